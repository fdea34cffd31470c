package jongler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

const telModel = "gemini-2.5-flash"

// telKeys are the keys of the telemetry tests: two projects, values easy
// to spot in any output.
var telKeys = []jongler.Key{
	{Name: "alpha", Value: "tel-secret-alpha-91c2", Project: "p1"},
	{Name: "beta", Value: "tel-secret-beta-4d7e", Project: "p2"},
}

// telRig is a transport with an SDK MeterProvider (ManualReader) and
// TracerProvider (SpanRecorder) in front of a jonglertest server.
type telRig struct {
	srv    *jonglertest.Server
	tr     *jongler.Transport
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	clock  *fakeClock
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newTelRig(t *testing.T, keys []jonglertest.Key, opts ...jongler.Option) *telRig {
	t.Helper()
	if keys == nil {
		for _, k := range telKeys {
			keys = append(keys, jonglertest.Key{Label: k.Name, Value: k.Value, Project: k.Project})
		}
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   keys,
		Models: map[string]jonglertest.Quota{telModel: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
	})
	t.Cleanup(srv.Close)
	r := &telRig{
		srv:    srv,
		reader: sdkmetric.NewManualReader(),
		spans:  tracetest.NewSpanRecorder(),
		clock:  &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		mp.Shutdown(context.Background())
		tp.Shutdown(context.Background())
	})
	r.mp, r.tp = mp, tp
	all := append([]jongler.Option{
		jongler.WithKeys(telKeys...),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(srv.URL),
		jongler.WithClock(r.clock),
		jongler.WithMaxWait(time.Minute),
		jongler.WithMeterProvider(mp),
		jongler.WithTracerProvider(tp),
	}, opts...)
	tr, err := jongler.NewTransport(gem, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	r.tr = tr
	return r
}

// do sends a generateContent request and returns the answer, body unread.
func (r *telRig) do(t *testing.T) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+genPath,
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", "caller-token-5be0")
	return r.tr.RoundTrip(req)
}

// status sends a request, reads its answer and returns its status.
func (r *telRig) status(t *testing.T) int {
	t.Helper()
	resp, err := r.do(t)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// collect returns the metrics recorded so far, by name.
func (r *telRig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/api-jongler/jongler" {
			t.Errorf("scope %q, want the package's import path", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func conn() attribute.KeyValue { return attribute.String("connector", gem) }

func counter(points ...metricdata.DataPoint[int64]) metricdata.Sum[int64] {
	return metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}
}

func point(n int64, kv ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(kv...), Value: n}
}

func reqPoint(n int64, key, status string) metricdata.DataPoint[int64] {
	return point(n, conn(), attribute.String("key", key), attribute.String("model", telModel), attribute.String("status", status))
}

func attemptPoint(n int64, key, status, verdict string) metricdata.DataPoint[int64] {
	return point(n, conn(), attribute.String("key", key), attribute.String("model", telModel),
		attribute.String("status", status), attribute.String("verdict", verdict))
}

func statesGauge(vacant, locked, lockdown, errored int64) metricdata.Gauge[int64] {
	st := func(n int64, s string) metricdata.DataPoint[int64] {
		return point(n, conn(), attribute.String("state", s))
	}
	return metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
		st(vacant, "VACANT"), st(locked, "LOCKED"), st(lockdown, "LOCKDOWN"), st(errored, "ERROR"),
	}}
}

func inFlightSum(alpha, beta int64) metricdata.Sum[int64] {
	return metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.DataPoint[int64]{
		point(alpha, conn(), attribute.String("key", "alpha")),
		point(beta, conn(), attribute.String("key", "beta")),
	}}
}

var ignore = []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}

// TestTelemetryMetrics follows two requests through jonglertest and reads
// every instrument with a ManualReader: a bare 429 absorbed by sending
// again with the other key; then a second one that throttles every key,
// waited out (10 s on the transport's clock) before a key serves; the key
// states and leases in flight while an answer is being read.
func TestTelemetryMetrics(t *testing.T) {
	r := newTelRig(t, nil)

	// A: alpha gets a bare 429 (its project is held back), beta serves.
	r.srv.InjectFaults(jonglertest.FaultRateLimit, 1)
	if got := r.status(t); got != http.StatusOK {
		t.Fatalf("request A: status %d, want 200", got)
	}
	m := r.collect(t)
	metricdatatest.AssertAggregationsEqual(t, statesGauge(1, 0, 1, 0), m["jongler.keys"].Data, ignore...)

	// B: beta gets a bare 429 too: two projects throttled at once, every
	// key waits 10s; then alpha, least recently used, serves. Its answer
	// is held unread: alpha is LOCKED, its lease in flight.
	r.srv.InjectFaults(jonglertest.FaultRateLimit, 1)
	resp, err := r.do(t)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request B: %v, %v; want 200", resp, err)
	}
	m = r.collect(t)
	metricdatatest.AssertAggregationsEqual(t, statesGauge(1, 1, 0, 0), m["jongler.keys"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, inFlightSum(1, 0), m["jongler.leases.in_flight"].Data, ignore...)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	m = r.collect(t)
	metricdatatest.AssertAggregationsEqual(t, statesGauge(2, 0, 0, 0), m["jongler.keys"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, inFlightSum(0, 0), m["jongler.leases.in_flight"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, counter(
		reqPoint(1, "beta", "200"),
		reqPoint(1, "alpha", "200"),
	), m["jongler.requests"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, counter(
		attemptPoint(1, "alpha", "429", "throttle"),
		attemptPoint(1, "beta", "200", "accept"),
		attemptPoint(1, "beta", "429", "throttle"),
		attemptPoint(1, "alpha", "200", "accept"),
	), m["jongler.upstream.attempts"].Data, ignore...)
	absorbed := func(key string) metricdata.DataPoint[int64] {
		return point(1, conn(), attribute.String("key", key), attribute.String("model", telModel), attribute.String("status", "429"))
	}
	metricdatatest.AssertAggregationsEqual(t, counter(absorbed("alpha"), absorbed("beta")),
		m["jongler.upstream.absorbed"].Data, ignore...)

	// Four leases: three at once, one after the 10s throttle.
	wait := m["jongler.key.wait"]
	if wait.Unit != "s" {
		t.Errorf("jongler.key.wait unit %q, want s", wait.Unit)
	}
	hist, ok := wait.Data.(metricdata.Histogram[float64])
	if !ok || len(hist.DataPoints) != 1 {
		t.Fatalf("jongler.key.wait: %#v, want one histogram point", wait.Data)
	}
	p := hist.DataPoints[0]
	metricdatatest.AssertHasAttributes(t, p, conn(), attribute.String("model", telModel), attribute.String("outcome", "leased"))
	if p.Count != 4 || p.Sum != 10 {
		t.Errorf("jongler.key.wait: %d waits, %vs in all; want 4 and 10s", p.Count, p.Sum)
	}
	if max, _ := p.Max.Value(); max != 10 {
		t.Errorf("jongler.key.wait: longest %vs, want 10s", max)
	}

	dur, ok := m["jongler.request.duration"].Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("jongler.request.duration: %#v, want a histogram", m["jongler.request.duration"].Data)
	}
	var n uint64
	for _, p := range dur.DataPoints {
		n += p.Count
	}
	if n != 2 || m["jongler.request.duration"].Unit != "s" {
		t.Errorf("jongler.request.duration: %d requests in %q, want 2 in s", n, m["jongler.request.duration"].Unit)
	}

	// Close stops observing the key states.
	if err := r.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if g, ok := r.collect(t)["jongler.keys"].Data.(metricdata.Gauge[int64]); ok && len(g.DataPoints) > 0 {
		t.Errorf("key states still observed after Close: %v", g.DataPoints)
	}
}

// TestTelemetryNoKey: every key refused for good; the request's status is
// "no_key", the refusals the caller did not see are absorbed, and the key
// states say ERROR.
func TestTelemetryNoKey(t *testing.T) {
	keys := []jonglertest.Key{
		{Label: "alpha", Value: telKeys[0].Value, Project: "p1", Invalid: true},
		{Label: "beta", Value: telKeys[1].Value, Project: "p2", Invalid: true},
	}
	r := newTelRig(t, keys)
	if got := r.status(t); got != http.StatusBadRequest {
		t.Fatalf("first request: status %d, want the last refusal, 400", got)
	}
	if _, err := r.do(t); err == nil {
		t.Fatal("second request: no error, want ErrNoKeys")
	}
	m := r.collect(t)
	metricdatatest.AssertAggregationsEqual(t, counter(
		reqPoint(1, "beta", "400"),
		reqPoint(1, "", "no_key"),
	), m["jongler.requests"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, counter(
		point(1, conn(), attribute.String("key", "alpha"), attribute.String("model", telModel), attribute.String("status", "400")),
	), m["jongler.upstream.absorbed"].Data, ignore...)
	metricdatatest.AssertAggregationsEqual(t, statesGauge(0, 0, 0, 2), m["jongler.keys"].Data, ignore...)
}

// TestTelemetrySpans: one span per request, an event per attempt naming
// the key, the upstream status and the verdict; the base transport's
// request carries the span.
func TestTelemetrySpans(t *testing.T) {
	var parents []bool
	hc := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(hc.CloseIdleConnections)
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		parents = append(parents, sdkSpanIn(req.Context()))
		return hc.RoundTrip(req)
	})
	r := newTelRig(t, nil, jongler.WithBaseTransport(base))
	r.srv.InjectFaults(jonglertest.FaultRateLimit, 1)
	if got := r.status(t); got != http.StatusOK {
		t.Fatalf("status %d, want 200", got)
	}
	ended := r.spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	s := ended[0]
	if s.Name() != "jongler.request" || s.Status().Code == codes.Error {
		t.Errorf("span %q status %v, want jongler.request, not an error", s.Name(), s.Status())
	}
	attrs := attribute.NewSet(s.Attributes()...)
	for k, want := range map[attribute.Key]attribute.Value{
		"connector": attribute.StringValue(gem), "model": attribute.StringValue(telModel),
		"status": attribute.StringValue("200"), "key": attribute.StringValue("beta"),
		"attempts": attribute.IntValue(2), "http.request.method": attribute.StringValue("POST"),
	} {
		if got, _ := attrs.Value(k); got != want {
			t.Errorf("span attribute %s = %v, want %v", k, got.Emit(), want.Emit())
		}
	}
	var events []string
	for _, e := range s.Events() {
		set := attribute.NewSet(e.Attributes...)
		var parts []string
		for _, k := range []attribute.Key{"attempt", "key", "status", "verdict"} {
			v, _ := set.Value(k)
			parts = append(parts, v.Emit())
		}
		events = append(events, e.Name+" "+strings.Join(parts, " "))
	}
	want := []string{"attempt 1 alpha 429 throttle", "attempt 2 beta 200 accept"}
	if strings.Join(events, "; ") != strings.Join(want, "; ") {
		t.Errorf("events %q, want %q", events, want)
	}
	if len(parents) != 2 || !parents[0] || !parents[1] {
		t.Errorf("base transport saw the span in %v of its requests, want both", parents)
	}
}

// sdkSpanIn reports whether ctx carries a recording span.
func sdkSpanIn(ctx context.Context) bool {
	return oteltrace.SpanFromContext(ctx).IsRecording()
}

// TestTelemetryNoopProviders: explicit no-op providers, like none, record
// nothing and the transport works as without them.
func TestTelemetryNoopProviders(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte("{}")) })
	for _, opts := range [][]jongler.Option{
		nil,
		{jongler.WithMeterProvider(nil), jongler.WithTracerProvider(nil)},
		{jongler.WithMeterProvider(metricnoop.NewMeterProvider()), jongler.WithTracerProvider(tracenoop.NewTracerProvider())},
	} {
		tr := newTransport(t, u, opts...)
		if resp := post(t, tr, u.URL+genPath, "{}"); resp.StatusCode != http.StatusOK || readBody(t, resp) != "{}" {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
}

// TestTelemetryNeverHoldsAKey drives the transport through every path
// (success, reset, 503 retried, bare 429, key refused for good, caller's
// credential in the query string, a failed send returned to the caller) and
// scans every metric and span recorded: names, descriptions, units,
// attributes, events, statuses. No key value and no caller credential may
// appear anywhere.
func TestTelemetryNeverHoldsAKey(t *testing.T) {
	keys := []jonglertest.Key{
		{Label: "alpha", Value: telKeys[0].Value, Project: "p1"},
		{Label: "beta", Value: telKeys[1].Value, Project: "p2"},
		{Label: "gamma", Value: "tel-secret-gamma-0a3f", Project: "p3", Invalid: true},
	}
	secrets := []string{keys[0].Value, keys[1].Value, keys[2].Value, "caller-token-5be0"}
	tkeys := append(telKeys[:2:2], jongler.Key{Name: "gamma", Value: keys[2].Value, Project: "p3"})
	r := newTelRig(t, keys, jongler.WithKeys(tkeys...))
	for _, f := range []jonglertest.FaultKind{0, jonglertest.FaultReset, jonglertest.FaultOverloaded, jonglertest.FaultRateLimit, 0, 0, 0} {
		if f != 0 {
			r.srv.InjectFaults(f, 1)
		}
		if resp, err := r.do(t); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		r.clock.Sleep(context.Background(), time.Minute)
	}
	// The caller's credential in the query string, and a failed send
	// returned as an error.
	noRetry, err := jongler.NewTransport(gem, jongler.WithKeys(tkeys[:1]...), jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(r.srv.URL), jongler.WithMaxRetries(-1), jongler.WithClock(r.clock),
		jongler.WithMeterProvider(r.mp), jongler.WithTracerProvider(r.tp))
	if err != nil {
		t.Fatal(err)
	}
	defer noRetry.CloseIdleConnections()
	r.srv.InjectFaults(jonglertest.FaultReset, 1)
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+genPath+"?key=caller-token-5be0",
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`))
	if _, err := noRetry.RoundTrip(req); err == nil {
		t.Fatal("send with a reset: no error")
	}
	m := r.collect(t)

	var texts []string
	add := func(kvs ...attribute.KeyValue) {
		for _, kv := range kvs {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
		}
	}
	points := 0
	for _, mt := range m {
		texts = append(texts, mt.Name, mt.Description, mt.Unit)
		switch d := mt.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				add(p.Attributes.ToSlice()...)
				points++
			}
		case metricdata.Gauge[int64]:
			for _, p := range d.DataPoints {
				add(p.Attributes.ToSlice()...)
				points++
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				add(p.Attributes.ToSlice()...)
				for _, e := range p.Exemplars {
					add(e.FilteredAttributes...)
				}
				points++
			}
		default:
			t.Errorf("metric %s: unexpected data %T", mt.Name, mt.Data)
		}
	}
	spans := r.spans.Ended()
	for _, s := range spans {
		texts = append(texts, s.Name(), s.Status().Description)
		add(s.Attributes()...)
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			add(e.Attributes...)
		}
	}
	if len(m) != 7 || points < 20 || len(spans) != 8 {
		t.Fatalf("%d metrics, %d points, %d spans: the scan saw too little", len(m), points, len(spans))
	}
	all := strings.Join(texts, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a key value or credential (%.8s...) appears in the telemetry", s)
		}
	}
	for _, want := range []string{"gamma", "disable", "error", "503", "429"} {
		if !strings.Contains(all, want) {
			t.Errorf("telemetry does not mention %q: the paths were not all taken", want)
		}
	}
}

// TestTelemetryKeyless: a connector that needs no key counts its requests
// (no key, no attempt, no key states) and gets its span.
func TestTelemetryKeyless(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.WriteHeader(http.StatusTeapot) })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() {
		mp.Shutdown(context.Background())
		tp.Shutdown(context.Background())
	})
	tr, err := jongler.NewTransport("httpbin.org", jongler.WithBaseURL(u.URL), jongler.WithMeterProvider(mp), jongler.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if resp := post(t, tr, u.URL+"/anything", "{}"); resp.StatusCode != http.StatusTeapot {
		t.Fatalf("status %d", resp.StatusCode)
	} else {
		readBody(t, resp)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		names = append(names, m.Name)
		if m.Name == "jongler.requests" {
			metricdatatest.AssertAggregationsEqual(t, counter(point(1, attribute.String("connector", "httpbin.org"),
				attribute.String("key", ""), attribute.String("model", ""), attribute.String("status", "418"))), m.Data, ignore...)
		}
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "jongler.request.duration jongler.requests" {
		t.Errorf("metrics %v, want the requests and their duration only", names)
	}
	if n := len(spans.Ended()); n != 1 {
		t.Errorf("%d spans, want 1", n)
	}
}

// TestTelemetryConcurrent: many requests at once, metrics and spans on
// (run with -race): every request counted once, every lease given back,
// and the caller's request left as it was.
func TestTelemetryConcurrent(t *testing.T) {
	r := newTelRig(t, nil, jongler.WithMaxInFlight(4))
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				req, _ := http.NewRequest(http.MethodPost, r.srv.URL+genPath,
					strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`))
				req.Header.Set("x-goog-api-key", "caller-token-5be0")
				before := req.Header.Clone()
				resp, err := r.tr.RoundTrip(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Request != req || !reflect.DeepEqual(req.Header, before) || req.Context() != context.Background() {
					errs <- fmt.Errorf("status %d, or the caller's request changed", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m := r.collect(t)
	var total int64
	for _, p := range m["jongler.requests"].Data.(metricdata.Sum[int64]).DataPoints {
		total += p.Value
	}
	if total != workers*each {
		t.Errorf("jongler.requests counts %d, want %d", total, workers*each)
	}
	metricdatatest.AssertAggregationsEqual(t, inFlightSum(0, 0), m["jongler.leases.in_flight"].Data, ignore...)
	if n := len(r.spans.Ended()); n != workers*each {
		t.Errorf("%d spans, want %d", n, workers*each)
	}
}

// TestTelemetryAbsorbedLongError: a 429 sent again, then an error answer
// too long to read, passed on cut: only the 429 was absorbed,
// the caller saw the other.
func TestTelemetryAbsorbedLongError(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == testKeys["key1"] {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, big)
	})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}, jongler.Key{Name: "key2", Value: testKeys["key2"]}),
		jongler.WithMeterProvider(mp))
	resp := post(t, tr, u.URL+genPath, "{}")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || len(body) != 1<<20 || err == nil {
		t.Fatalf("status %d, %d bytes, %v; want the 500, its first MiB and an error saying it was cut", resp.StatusCode, len(body), err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "jongler.upstream.absorbed" {
			metricdatatest.AssertAggregationsEqual(t, counter(point(1, conn(), attribute.String("key", "key1"),
				attribute.String("model", telModel), attribute.String("status", "429"))), m.Data, ignore...)
			return
		}
	}
	t.Error("no jongler.upstream.absorbed")
}

// TestTelemetryModelsBounded: the model attribute comes from the caller's
// path or body, so a caller naming a new model in every request must not
// make a new time series each time: past the bound, and for a name too
// long, metrics say "other"; spans keep the name.
func TestTelemetryModelsBounded(t *testing.T) {
	r := newTelRig(t, nil)
	const n = 100
	long := strings.Repeat("m", 200)
	for i := range n + 1 {
		model := fmt.Sprintf("model-%03d", i)
		if i == n {
			model = long
		}
		req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/v1beta/models/"+model+":generateContent",
			strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	models := map[string]int64{}
	for _, name := range []string{"jongler.requests", "jongler.upstream.attempts"} {
		sum, ok := r.collect(t)[name].Data.(metricdata.Sum[int64])
		if !ok {
			t.Fatalf("%s: no sum", name)
		}
		for _, dp := range sum.DataPoints {
			v, _ := dp.Attributes.Value("model")
			models[v.AsString()] += dp.Value
		}
	}
	if len(models) != jongler.MaxModelLabels+1 {
		t.Errorf("%d model labels, want %d and \"other\": %v", len(models), jongler.MaxModelLabels, models)
	}
	if got, want := models["other"], int64(2*(n+1-jongler.MaxModelLabels)); got != want {
		t.Errorf("%d counted as other, want %d", got, want)
	}
	if models["model-000"] != 2 {
		t.Errorf("model-000 counted %d times, want 2 (a request and an attempt)", models["model-000"])
	}
	spans := r.spans.Ended()
	if len(spans) != n+1 {
		t.Fatalf("%d spans, want %d", len(spans), n+1)
	}
	found := false
	for _, kv := range spans[len(spans)-1].Attributes() {
		found = found || kv.Key == "model" && kv.Value.AsString() == long
	}
	if !found {
		t.Error("the span lost the model's name")
	}
}
