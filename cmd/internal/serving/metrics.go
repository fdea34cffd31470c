package serving

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// NewMetrics returns the MeterProvider that `serve` gives its transports
// (jongler.WithMeterProvider) and the handler of GET /metrics that exposes
// what they record, in Prometheus' text format, with the process's Go
// runtime and process metrics; version is the service.version of the
// resource. The metrics live in a registry of their own, not Prometheus'
// global one; readers, if any, read them too (serve's dashboard). The
// caller shuts the provider down when done.
func NewMetrics(version string, readers ...sdkmetric.Reader) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "apijongler"),
		attribute.String("service.version", version),
	)
	opts := []sdkmetric.Option{sdkmetric.WithReader(exp), sdkmetric.WithResource(res)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failed observation (a store that cannot be read) must not hide
		// the other metrics.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
	return mp, h, nil
}
