package jongler_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// exampleServer is a simulated Gemini API whose next answer is a bare 429,
// and the transport's keys for it.
func exampleServer() (*jonglertest.Server, []jongler.Key) {
	srv := jonglertest.NewServer(jonglertest.Config{Keys: []jonglertest.Key{
		{Label: "alpha", Value: "example-secret-a"},
		{Label: "beta", Value: "example-secret-b"},
	}})
	srv.InjectFaults(jonglertest.FaultRateLimit, 1)
	return srv, []jongler.Key{{Name: "alpha", Value: "example-secret-a"}, {Name: "beta", Value: "example-secret-b"}}
}

func exampleRequest(tr http.RoundTripper, url string) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"parts":[{"text":"Hi"}]}]}`))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// The transport records its metrics with an OpenTelemetry SDK
// MeterProvider; here a ManualReader reads the counters back (a
// Prometheus exporter would expose them as jongler_requests_total...).
func ExampleWithMeterProvider() {
	srv, keys := exampleServer()
	defer srv.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(keys...),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(srv.URL),
		jongler.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	exampleRequest(tr, srv.URL)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		sum, ok := m.Data.(metricdata.Sum[int64])
		if !ok || !sum.IsMonotonic {
			continue
		}
		for _, p := range sum.DataPoints {
			key, _ := p.Attributes.Value("key")
			status, _ := p.Attributes.Value("status")
			fmt.Printf("%s key=%s status=%s: %d\n", m.Name, key.AsString(), status.AsString(), p.Value)
		}
	}
	// Unordered output:
	// jongler.requests key=beta status=200: 1
	// jongler.upstream.attempts key=alpha status=429: 1
	// jongler.upstream.attempts key=beta status=200: 1
	// jongler.upstream.absorbed key=alpha status=429: 1
}

// Each request is a span with an event per attempt: which key, what the
// upstream answered, what the policy made of it.
func ExampleWithTracerProvider() {
	srv, keys := exampleServer()
	defer srv.Close()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(keys...),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(srv.URL),
		jongler.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	exampleRequest(tr, srv.URL)

	for _, s := range spans.Ended() {
		fmt.Println(s.Name())
		for _, e := range s.Events() {
			fmt.Print("  ", e.Name)
			for _, kv := range e.Attributes {
				fmt.Printf(" %s=%s", kv.Key, kv.Value.Emit())
			}
			fmt.Println()
		}
	}
	// Output:
	// jongler.request
	//   attempt attempt=1 key=alpha status=429 verdict=throttle
	//   attempt attempt=2 key=beta status=200 verdict=accept
}
