package main

import (
	"context"
	"net/url"
	"os"
	"strings"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/redisstore"
	"github.com/redis/go-redis/v9"
)

// storeEnv names the store when --store is not given.
const storeEnv = "APIJONGLER_STORE"

// storeFlagUsage is the help of --store.
const storeFlagUsage = "keep key states in the Redis at `URL` (redis://[user:password@]host:port/db[?lease_ttl=10s], or rediss:// for TLS) instead of the state directory, so that every machine sharing it shares leases and cooldowns (default $" + storeEnv + ")"

// storeURL returns the store named by --store or $APIJONGLER_STORE; "" means
// the file store in the state directory.
func (a *app) storeURL() string {
	if a.storeFlag != "" {
		return a.storeFlag
	}
	return os.Getenv(storeEnv)
}

// openStore returns the store to keep key states in: a Redis store for a
// redis:// or rediss:// URL, nil for the default file store. The URL's
// password is never printed: messages show the URL redacted, and the
// password is added to what the output redacts.
func (a *app) openStore() (jongler.Store, func(), error) {
	raw := a.storeURL()
	if raw == "" {
		return nil, func() {}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, usageErrorf("--store / $%s: not a URL; want redis://host:port or rediss://host:port", storeEnv)
	}
	if pw, ok := u.User.Password(); ok {
		secret := []jongler.Key{{Name: "store password", Value: pw}}
		a.stdout.addKeys(secret)
		a.stderr.addKeys(secret)
	}
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
	default:
		return nil, nil, usageErrorf("--store / $%s %s: want a redis:// or rediss:// URL", storeEnv, redisstore.Redact(raw))
	}
	// go-redis logs failed dials on its own; the error says it once.
	redis.SetLogger(quietLogger{})
	s, err := redisstore.Open(raw)
	if err != nil {
		return nil, nil, configError(err)
	}
	return s, func() { s.Close() }, nil
}

// storeOptions returns the options that keep a transport's states in the
// chosen store (none for the default), and the function that closes it.
func (a *app) storeOptions() ([]jongler.Option, func(), error) {
	s, closeStore, err := a.openStore()
	if err != nil || s == nil {
		return nil, closeStore, err
	}
	return []jongler.Option{jongler.WithStore(s)}, closeStore, nil
}

// quietLogger drops go-redis's log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
