package route

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// telemetry counts what happened at each target.
type telemetry struct {
	targets metric.Int64Counter // nil: no metrics
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	if mp == nil {
		return &telemetry{}, nil
	}
	c, err := mp.Meter("github.com/api-jongler/jongler/route").Int64Counter("apijongler.route.targets",
		metric.WithDescription("Requests per route and target: served, skipped as spent (no request sent), fell back (a 429, a 5xx or a failure to connect)"),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	return &telemetry{targets: c}, nil
}

// count counts one request of route at target (as Handler.label names it)
// with outcome.
func (tel *telemetry) count(ctx context.Context, route, target, outcome string) {
	if tel.targets == nil {
		return
	}
	tel.targets.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(
		attribute.String("route", route), attribute.String("target", target), attribute.String("outcome", outcome)))
}
