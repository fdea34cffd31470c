package proxy

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metricRequests counts the requests the handler answers, by client name,
// connector and status: the names come from the configuration, so the
// label is bounded.
const metricRequests = "jongler.proxy.requests"

// instrumentationName names the handler's meter: the package's path.
const instrumentationName = "github.com/api-jongler/jongler/proxy"

// WithMeterProvider records, in mp, the requests the handler answers
// (jongler.proxy.requests, a counter with the attributes client_name,
// connector and status): the client's name, never its token. Without it
// (or with nil) nothing is recorded.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meters = mp }
}

// metrics are the handler's instruments; the zero value records nothing.
type metrics struct {
	requests metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (metrics, error) {
	if mp == nil {
		return metrics{}, nil
	}
	c, err := mp.Meter(instrumentationName).Int64Counter(metricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests answered by the proxy, by client name, connector and status"))
	if err != nil {
		return metrics{}, fmt.Errorf("proxy: metrics: %w", err)
	}
	return metrics{requests: c}, nil
}

// record counts the request of x, answered with status.
func (m metrics) record(ctx context.Context, x *exchange, status int) {
	if m.requests == nil {
		return
	}
	connector := NoClient
	if x.m != nil {
		connector = x.m.name
	}
	m.requests.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(
		attribute.String("client_name", x.clientName()),
		attribute.String("connector", connector),
		attribute.Int("status", status)))
}
