// Package serving builds what `apijongler serve` puts in front of its
// transports: the metrics it exports in Prometheus' format, the access
// log, the upstream transport, the server and its bounds, and the options
// it gives every transport and the handler.
// It lives under cmd/ because it brings in the OpenTelemetry SDK and
// Prometheus, which no library package may.
package serving

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"

	"go.opentelemetry.io/otel/metric"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// Config is what `serve` serves its connectors with, besides their keys.
type Config struct {
	Store   jongler.Store
	Logger  *slog.Logger         // the transports' log and the reverse proxy's error log
	Access  *slog.Logger         // the access log, one line per request
	Meters  metric.MeterProvider // nil: no metrics
	Tokens  []string
	MaxBody int64 // bytes, for the handler's bound and the transports' buffer
	// Leases is shared by the transports of every configuration a reload
	// builds, so that a key renamed by a reload is not leased under its
	// new name while requests hold it under the old one.
	Leases *jongler.LeaseGroup
	Limits Limits // the zero value bounds nothing: give DefaultLimits, or serve's flags
	// Upstream is what the transports send through (UpstreamTransport);
	// nil: http.DefaultTransport.
	Upstream http.RoundTripper
	// Clients are let in besides Tokens, by name, each under its limits;
	// Usage counts their requests across the handlers reloads build.
	Clients        []proxy.Client
	Usage          *proxy.ClientUsage
	TrustedProxies []netip.Prefix // whose X-Forwarded-For the access log believes
}

// TransportOptions returns the options every transport gets; the caller
// adds its keys and budgets.
func (c Config) TransportOptions() []jongler.Option {
	return []jongler.Option{
		jongler.WithStore(c.Store),
		jongler.WithLogger(c.Logger),
		jongler.WithNoKeyAnswer(),
		jongler.WithMaxBodyBuffer(c.MaxBody),
		jongler.WithMeterProvider(c.Meters),
		jongler.WithLeaseGroup(c.Leases),
		jongler.WithBaseTransport(c.Upstream),
	}
}

// ProxyOptions returns the handler's options; the caller adds its root.
func (c Config) ProxyOptions() []proxy.Option {
	return append([]proxy.Option{
		proxy.WithTokens(c.Tokens...),
		proxy.WithClients(c.Clients...),
		proxy.WithClientUsage(c.Usage),
		proxy.WithTrustedProxies(c.TrustedProxies...),
		proxy.WithMeterProvider(c.Meters),
		proxy.WithAccessLog(c.Access),
		proxy.WithErrorLog(c.Logger),
		proxy.WithMaxBodyBytes(c.MaxBody),
	}, c.Limits.proxyOptions()...)
}

// AccessLog returns the access log writing to w in format, "text" or
// "json" (--log-format).
func AccessLog(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
