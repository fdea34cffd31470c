package jongler

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// An Option configures a [Transport].
type Option func(*options)

type options struct {
	configFile    string
	keys          []Key
	keysSet       bool
	stateDir      string
	store         Store
	base          http.RoundTripper
	baseURL       string
	logger        *slog.Logger
	maxInFlight   int
	tor           string
	torSet        bool
	egress        func(Key) string
	policy        Policy
	backoff       Backoff
	clock         Clock
	connectorsDir string
	maxBody       int64
	maxRetries    int
	maxWait       time.Duration
	budgets       []Budget
	budgetsSet    bool
	noKeyAnswer   bool
	group         *LeaseGroup
	err           error // the first option given a value it cannot take
	tel           telemetryOptions
}

// WithConfigFile reads keys from the INI file at path instead of
// $APIJONGLER_CONFIG.
func WithConfigFile(path string) Option { return func(o *options) { o.configFile = path } }

// WithKeys gives the keys directly, with their projects, instead of an INI
// file; a key without a project is its own. It replaces keys given by
// earlier options. Giving no key at all is an error: an empty set given on
// purpose never falls back to the INI file.
func WithKeys(keys ...Key) Option {
	return func(o *options) {
		o.keys, o.keysSet = append([]Key(nil), keys...), true
		if len(keys) == 0 {
			o.fail(errors.New("jongler: WithKeys: no keys given"))
		}
	}
}

// WithStateDir keeps key state in dir instead of [DefaultStateDir].
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithStore keeps key state in s instead of a [FileStore].
func WithStore(s Store) Option { return func(o *options) { o.store = s } }

// WithBaseTransport sends requests through rt instead of
// [http.DefaultTransport].
func WithBaseTransport(rt http.RoundTripper) Option { return func(o *options) { o.base = rt } }

// WithBaseURL overrides the connector's address, for tests or regional
// endpoints: keys go to this scheme, host and port only.
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithLogger logs key state transitions (Info) and leases (Debug) to l.
// Key values are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxInFlight lets n requests use one key at once (default 1: each key
// is used by one request at a time, across every process).
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

// WithTor sends every request through Tor's SOCKS5 proxy at addr, host
// names resolved by the proxy; "" means Tor's default, 127.0.0.1:9050. The
// environment variable APIJONGLER_TOR does the same. Each key's requests
// give a SOCKS user name of their own, derived from the key's name (never
// its value), so that Tor's IsolateSOCKSAuth (on by default) gives each
// key its own circuit and exit; the keys' ways out are then Tor's alone
// ([WithEgress] and the egress section are not used).
func WithTor(addr string) Option {
	return func(o *options) {
		if addr == "" {
			addr = defaultTorAddr
		}
		o.tor, o.torSet = addr, true
	}
}

// WithEgress sends each key's requests out the way egress(key) names, on
// connections of their own (a keep-alive pool for each way out):
// "socks5://[user:password@]host:port" (host names resolved here),
// "socks5h://…" (resolved by the proxy), "http://[user:password@]host:port"
// (a tunnel asked for with CONNECT), "direct" (no proxy, not even the
// environment's), or "" for the base transport's way. Several URLs
// separated by commas spread keys over them by rendezvous hashing of the
// key's name, so that adding an n-th proxy moves about 1/n of the keys.
// egress is called once a key, by [NewTransport]; it replaces the INI
// file's "[CONNECTOR:egress]" section, and [WithTor] replaces both.
//
// A proxy that refuses, fails or does not answer within 10s rests the
// keys sent through it with the same user and password in lockdown for 5s, doubled at each failure in a row up to two
// minutes, and the request goes on with another key. Proxies are named by
// scheme, host and port only, in logs, errors and [KeyDetail]; their user
// names and passwords are never shown. The base transport must be an
// [*http.Transport].
func WithEgress(egress func(k Key) string) Option { return func(o *options) { o.egress = egress } }

// WithPolicy reads answers with p instead of the connector's policy
// ([PolicyFor]).
func WithPolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// A Backoff says how long to wait before resend number attempt (from 0)
// after a transport error or an upstream failure; resp is the failed answer,
// or nil. The transport calls it with min 200ms and max 5s. Its signature is
// go-retryablehttp's, so that module's DefaultBackoff and
// LinearJitterBackoff can be passed as they are, but this package's API does
// not tie callers to that module's versions.
type Backoff func(min, max time.Duration, attempt int, resp *http.Response) time.Duration

// WithBackoff sets how long to wait between resends after transport errors
// and upstream failures. The default is exponential from 200ms to 5s with
// jitter, a Retry-After kept as given.
func WithBackoff(b Backoff) Option { return func(o *options) { o.backoff = b } }

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
// back before failing with [ErrNoKeys] (default 5s; negative:
// never wait). Otherwise a request whose context deadline comes after the
// key's return waits for it in any case (with the real clock: a deadline
// says nothing of another [Clock]'s time).
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// fail records the first option error; NewTransport returns it.
func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// newOptions applies opts over the defaults.
func newOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// WithBudgets sets the request budgets per model, replacing those of the
// INI file.
func WithBudgets(b ...Budget) Option {
	return func(o *options) { o.budgets, o.budgetsSet = append([]Budget(nil), b...), true }
}

// WithNoKeyAnswer makes the [Transport] answer a request that no key can
// serve as the upstream answers a caller over its rate limit: 429 Too Many
// Requests with a Retry-After header (whole seconds until the first key is
// back) and a body in the upstream's error shape (Google's RESOURCE_EXHAUSTED
// with a RetryInfo for the Gemini API, OpenAI's rate_limit_exceeded on
// OpenAI-compatible paths), or 503 when every key is refused for good. SDKs
// then raise their usual rate-limit error and their own retry logic waits
// the right time; `apijongler serve` uses it.
//
// Without this option such a request fails with a *[NoKeyError] (matched by
// [ErrNoKeys], its RetryAfter saying when), which is what Go code that
// looks at errors wants. Either way, when the request itself was refused
// by the last key left, the upstream's answer is returned, with a
// Retry-After added if it had none (the Gemini API gives its delay in the
// body only), so the first exhausting request and the later ones tell the
// client the same thing. One option rather than a helper reading the error
// back out of a response: a caller wants one behaviour or the other, and
// an error already carries the NoKeyError for Go callers.
func WithNoKeyAnswer() Option { return func(o *options) { o.noKeyAnswer = true } }
