package proxy

import (
	"log/slog"
	"net/netip"

	"go.opentelemetry.io/otel/metric"
)

// An Option configures a [Handler].
type Option func(*config)

type config struct {
	tokens   []string
	root     string
	maxBody  int64
	log      *slog.Logger
	errorLog *slog.Logger
	limits   limits
	clients  []Client
	usage    *ClientUsage
	meters   metric.MeterProvider
	trusted  []netip.Prefix
}

// DefaultMaxBodyBytes bounds request bodies unless [WithMaxBodyBytes] says
// otherwise: room for inline images and documents within the Gemini API's
// 20 MB request limit, base64 included, and no more than a
// [jongler.Transport] buffers by default to resend a body with another key.
const DefaultMaxBodyBytes = 32 << 20

// WithTokens lets in only requests that carry one of tokens where they
// would put an API key. Without tokens every request is let in, so the
// handler must then be reachable from trusted places only (`apijongler
// serve` listens on loopback only when it has no token). Empty tokens are
// ignored. Give tokens of at least 16 random bytes: one under 8 bytes is
// kept from the upstream and the access log only where it is a whole item
// (see the package documentation).
func WithTokens(tokens ...string) Option {
	return func(c *config) {
		for _, t := range tokens {
			if t != "" {
				c.tokens = append(c.tokens, t)
			}
		}
	}
}

// WithRoot serves the connector called name (or one of its aliases) at /
// besides /NAME/. Without it, the connector is served at / only when it is
// the only one.
func WithRoot(name string) Option { return func(c *config) { c.root = name } }

// WithMaxBodyBytes bounds request bodies to n bytes (default
// [DefaultMaxBodyBytes]); a longer one gets 413. Give the transports at
// least as much with [jongler.WithMaxBodyBuffer].
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithAccessLog logs one line per request to l, at level Info.
func WithAccessLog(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithErrorLog logs, at level Debug, what the reverse proxy reports besides
// the answers (such as a body cut short while it was copied) to l.
func WithErrorLog(l *slog.Logger) Option { return func(c *config) { c.errorLog = l } }
