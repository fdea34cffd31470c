package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/redisstore"
	"github.com/redis/go-redis/v9"
)

// storeEnv names the store when neither --store-file nor --store is given.
const storeEnv = "APIJONGLER_STORE"

// storeFileFlagUsage is the help of --store-file.
const storeFileFlagUsage = "keep key states in the Redis whose URL is the first line of `FILE` (mode 0600), as --store says, its password kept off the command line (default $" + storeEnv + ")"

// storeFlagUsage is the help of --store.
const storeFlagUsage = "keep key states in the Redis at `URL` (redis://[user:password@]host:port/db[?lease_ttl=10s], or rediss:// for TLS) instead of the state directory, so that every machine sharing it shares leases and cooldowns; a password here is readable by every local user: prefer --store-file or $" + storeEnv

// storeURL returns the store named by --store, --store-file or
// $APIJONGLER_STORE; "" means the file store in the state directory.
func (a *app) storeURL() (string, error) {
	switch {
	case a.storeFlag != "" && a.storeFile != "":
		return "", usageErrorf("give --store or --store-file, not both")
	case a.storeFlag != "":
		return a.storeFlag, nil
	case a.storeFile != "":
		data, err := a.readSecretFile("--store-file", a.storeFile)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(data), "\n")
		if line = strings.TrimSpace(line); line == "" {
			return "", configError(fmt.Errorf("--store-file %s: the first line is empty; want the store's URL (redis://...)", a.storeFile))
		}
		return line, nil
	}
	return os.Getenv(storeEnv), nil
}

// openStore returns the store to keep key states in: a Redis store for a
// redis:// or rediss:// URL, nil for the default file store. The URL's
// password is never printed: messages show the URL redacted, and the
// password is added to what the output redacts.
func (a *app) openStore() (jongler.Store, func(), error) {
	s, _, closeStore, err := a.openStoreAt()
	return s, closeStore, err
}

// openStoreAt is openStore, also returning the store's URL redacted ("" for
// the default file store), for messages.
func (a *app) openStoreAt() (jongler.Store, string, func(), error) {
	raw, err := a.storeURL()
	if err != nil {
		return nil, "", nil, err
	}
	if raw == "" {
		return nil, "", func() {}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", nil, usageErrorf("--store / --store-file / $%s: not a URL; want redis://host:port or rediss://host:port", storeEnv)
	}
	if pw, ok := u.User.Password(); ok {
		secret := []jongler.Key{{Name: "store password", Value: pw}}
		a.stdout.addKeys(secret)
		a.stderr.addKeys(secret)
		if a.storeFlag != "" {
			a.warnArgument("--store", "--store-file or $"+storeEnv)
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
	default:
		return nil, "", nil, usageErrorf("--store / --store-file / $%s %s: want a redis:// or rediss:// URL", storeEnv, redisstore.Redact(raw))
	}
	// go-redis logs failed dials on its own; the error says it once.
	redis.SetLogger(quietLogger{})
	s, err := redisstore.Open(raw)
	if err != nil {
		return nil, "", nil, configError(err)
	}
	return s, redisstore.Redact(raw), func() { s.Close() }, nil
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
