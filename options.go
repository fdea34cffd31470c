package jongler

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// An Option configures a [Transport] or a [Jongler].
type Option func(*options)

type options struct {
	configFile    string
	keys          []Key
	stateDir      string
	store         Store
	base          http.RoundTripper
	baseURL       string
	logger        *slog.Logger
	maxInFlight   int
	tor           string
	torSet        bool
	policy        Policy
	backoff       retryablehttp.Backoff
	clock         Clock
	connectorsDir string
	maxBody       int64
	maxRetries    int
	maxWait       time.Duration
	budgets       []Budget
	budgetsSet    bool
	noKeyAnswer   bool
}

// WithConfigFile reads keys from the INI file at path instead of
// $APIJONGLER_CONFIG.
func WithConfigFile(path string) Option { return func(o *options) { o.configFile = path } }

// WithKeys gives the keys directly, name to value, instead of an INI file.
// Each key is its own project. It replaces keys given by earlier options.
func WithKeys(keys map[string]string) Option {
	return func(o *options) {
		o.keys = nil
		for name, v := range keys {
			o.keys = append(o.keys, Key{Name: name, Value: v, Project: name})
		}
	}
}

// WithKeyList gives the keys directly, with their projects. It replaces
// keys given by earlier options.
func WithKeyList(keys ...Key) Option {
	return func(o *options) { o.keys = append([]Key(nil), keys...) }
}

// WithStateDir keeps key state in dir instead of [DefaultStateDir].
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithStore keeps key state in s instead of a [FileStore].
func WithStore(s Store) Option { return func(o *options) { o.store = s } }

// WithBase sends requests through rt instead of [http.DefaultTransport].
func WithBase(rt http.RoundTripper) Option { return func(o *options) { o.base = rt } }

// WithBaseURL overrides the connector's address, for tests or regional
// endpoints: keys go to this scheme, host and port only.
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithLogger logs key state transitions (Info) and leases (Debug) to l.
// Key values are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxInFlight lets n requests use one key at once (default 1: each key
// is used by one request at a time, across every process).
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

// WithTor dials through the SOCKS5 proxy at addr, host names resolved by
// the proxy; "" means Tor's default, 127.0.0.1:9050. The environment
// variable APIJONGLER_TOR does the same.
func WithTor(addr string) Option {
	return func(o *options) {
		if addr == "" {
			addr = DefaultTorAddr
		}
		o.tor, o.torSet = addr, true
	}
}

// WithPolicy reads answers with p instead of the connector's policy
// ([PolicyFor]).
func WithPolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// WithBackoff sets how long to wait between resends after transport errors
// and upstream failures (default [DefaultBackoff]); any of
// go-retryablehttp's Backoff funcs will do.
func WithBackoff(b retryablehttp.Backoff) Option { return func(o *options) { o.backoff = b } }

// WithClock tells time with c, for tests and scaled simulations.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithConnectorsDir reads connector files from dir besides the bundled ones
// instead of $APIJONGLER_CONNECTORS.
func WithConnectorsDir(dir string) Option { return func(o *options) { o.connectorsDir = dir } }

// WithMaxBodyBuffer bounds how much of a request body without GetBody is
// buffered to be sent again with another key (default 32 MiB).
func WithMaxBodyBuffer(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithMaxRetries bounds the resends after transport errors and upstream
// failures that are not a key's fault (0: the default, 3; negative: none).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = n } }

// WithMaxWait sets how long a request may wait for a cooling key to come
// back before failing with [ErrNoKeys] (default [DefaultMaxWait]; negative:
// never wait). Otherwise a request whose context deadline comes after the
// key's return waits for it in any case (with the real clock: a deadline
// says nothing of another [Clock]'s time).
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }
