package jongler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
)

// BenchmarkTransportTelemetry measures what metrics and spans cost a
// request, on the set-up of BenchmarkTransportOverhead (memory store, 8
// keys, a base that answers from memory): "off" gives no provider (the
// default), "noop" gives OpenTelemetry's no-op providers explicitly,
// "metrics" an SDK MeterProvider (a ManualReader, never collected during
// the run) and "metrics+traces" an SDK TracerProvider too (every span
// sampled, then dropped: no exporter). Run:
//
//	go test -run '^$' -bench BenchmarkTransportTelemetry -benchmem -count 6 .
func BenchmarkTransportTelemetry(b *testing.B) {
	base := canned.Transport{}
	const url = "http://127.0.0.1:9" + genPath // never dialled
	var keys []jongler.Key
	for i := range 8 {
		keys = append(keys, jongler.Key{Name: fmt.Sprintf("key%d", i+1), Value: fmt.Sprintf("bench-secret-%d", i+1)})
	}
	for _, mode := range []struct {
		name     string
		parallel int
		inFlight int
	}{{"serial", 1, 1}, {"parallel64", 64, 8}} {
		for _, v := range []struct {
			name string
			opts func(b *testing.B) []jongler.Option
		}{
			{"off", func(*testing.B) []jongler.Option { return nil }},
			{"noop", func(*testing.B) []jongler.Option {
				return []jongler.Option{
					jongler.WithMeterProvider(metricnoop.NewMeterProvider()),
					jongler.WithTracerProvider(tracenoop.NewTracerProvider()),
				}
			}},
			{"metrics", func(b *testing.B) []jongler.Option {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { mp.Shutdown(context.Background()) })
				return []jongler.Option{jongler.WithMeterProvider(mp)}
			}},
			{"metrics+traces", func(b *testing.B) []jongler.Option {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				tp := sdktrace.NewTracerProvider()
				b.Cleanup(func() {
					mp.Shutdown(context.Background())
					tp.Shutdown(context.Background())
				})
				return []jongler.Option{jongler.WithMeterProvider(mp), jongler.WithTracerProvider(tp)}
			}},
		} {
			b.Run(mode.name+"/"+v.name, func(b *testing.B) {
				opts := append([]jongler.Option{
					jongler.WithKeys(keys...), jongler.WithStore(jongler.NewMemoryStore()),
					jongler.WithBaseURL("http://127.0.0.1:9"), jongler.WithBaseTransport(base),
					jongler.WithMaxInFlight(mode.inFlight),
				}, v.opts(b)...)
				tr, err := jongler.NewTransport(gem, opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				do := func() {
					req, _ := http.NewRequest(http.MethodPost, url, http.NoBody)
					req.Header.Set("x-goog-api-key", "placeholder")
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				loop(b, mode.parallel, do)
			})
		}
	}
}
