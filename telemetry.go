package jongler

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the meter and the tracer, as OpenTelemetry asks
// of instrumentation libraries: the package's import path.
const instrumentationName = "github.com/api-jongler/jongler"

// The metric instruments; WithMeterProvider's doc says what each records.
const (
	metricRequests        = "jongler.requests"
	metricRequestDuration = "jongler.request.duration"
	metricAttempts        = "jongler.upstream.attempts"
	metricAbsorbed        = "jongler.upstream.absorbed"
	metricKeyWait         = "jongler.key.wait"
	metricKeys            = "jongler.keys"
	metricLeasesInFlight  = "jongler.leases.in_flight"
)

// The attributes of the metrics and spans. None ever holds a key's value
// or a credential: keys are named by their names from the configuration.
const (
	attrConnector = attribute.Key("connector")
	attrKey       = attribute.Key("key")
	attrModel     = attribute.Key("model")
	attrStatus    = attribute.Key("status")
	attrVerdict   = attribute.Key("verdict")
	attrOutcome   = attribute.Key("outcome")
	attrState     = attribute.Key("state")
	attrAttempt   = attribute.Key("attempt")
	attrAttempts  = attribute.Key("attempts")
	attrMethod    = attribute.Key("http.request.method")
	attrErrorType = attribute.Key("error.type")
)

// telemetryOptions holds the providers given as options.
type telemetryOptions struct {
	meters  metric.MeterProvider
	tracers trace.TracerProvider
}

// WithMeterProvider records the transport's metrics with mp, such as an
// OpenTelemetry SDK MeterProvider. Without it, or with nil, nothing is
// recorded, at no cost; pass otel.GetMeterProvider() to use the global
// provider. The instruments (in Prometheus form, as `apijongler serve`
// exposes them, dots become underscores, counters end in _total and
// histograms in seconds in _seconds):
//
//   - jongler.requests: requests answered, by connector, key (the name of
//     the last attempt's key, "" if none was leased), model and status (the
//     HTTP status the caller got, or "no_key", "canceled", "error" when it
//     got an error instead).
//   - jongler.request.duration (s): wall time to the answer's headers,
//     waits and resends included, by the same attributes.
//   - jongler.upstream.attempts: requests sent upstream, by connector, key,
//     model, status (upstream's, or "error" when the send failed) and
//     verdict (the policy's: "accept", "lockdown", "disable", "retry",
//     "throttle"; "error" for a failed send).
//   - jongler.upstream.absorbed: upstream error answers (429s mostly) the
//     caller never saw because the request was sent again, by connector,
//     key, model and status.
//   - jongler.key.wait (s): how long each attempt waited for a key, on the
//     transport's [Clock] (cooldowns waited out, busy keys), by connector,
//     model and outcome ("leased", "no_key", "canceled", "error").
//   - jongler.keys: keys in each state, by connector and state ("VACANT",
//     "LOCKED", "LOCKDOWN", "ERROR"), as [Transport.KeyStates] tells,
//     across every process sharing the store; observed at each collection.
//   - jongler.leases.in_flight: leases this process holds now, by
//     connector and key (every key, 0 included); observed at each
//     collection.
//
// The model attribute is the model the request names (its path, or an
// OpenAI-style body's "model"), which the caller chooses: the metrics name
// at most 64 models per transport, the first named, each at most 128
// bytes long; any other is "other" (spans keep the name). The key attribute
// names a configured key, and the status one an HTTP status or one of a
// few words: neither grows without end.
//
// Keys are named by their names from the configuration: no attribute ever
// holds a key's value or a credential. Requests for another address than
// the connector's, which go out bare, are not counted. Two transports for
// one connector on one provider report the same key-state series: close
// the one replaced.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) {
		if mp != nil {
			o.tel.meters = mp
		}
	}
}

// WithTracerProvider records a span per request with tp, with an
// "attempt" event per request sent upstream (the key's name, the upstream
// status, the policy's verdict); it ends when RoundTrip returns, at the
// answer's headers. The span is the parent of the base transport's spans
// (an otelhttp Transport's, say). An error's text is never recorded, only
// its kind ("no_key", "canceled", "error"). Without it, or with
// nil, nothing is recorded; pass otel.GetTracerProvider() to use the
// global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) {
		if tp != nil {
			o.tel.tracers = tp
		}
	}
}

// telemetry records a transport's metrics and spans; a nil *telemetry
// records nothing, and every method is a no-op on nil.
type telemetry struct {
	clock     Clock
	connector attribute.KeyValue
	tracer    trace.Tracer // nil: no spans
	m         *instruments // nil: no metrics
	meter     metric.Meter
	reg       metric.Registration  // the key states' and leases' callback, if any
	inFlight  map[string]*inFlight // by key name

	mu   sync.RWMutex
	sets map[series]measure // built once per time series

	models  sync.Map     // the model names the metrics say, as keys
	nModels atomic.Int32 // how many
}

// maxModelLabels bounds the models the metrics name (the model comes from
// the caller's path or body: a client of the proxy naming a new one in
// each request must not make new time series without end); maxModelLen
// bounds a name's length. Beyond either, the metrics say otherModel.
const (
	maxModelLabels = 64
	maxModelLen    = 128
	otherModel     = "other"
)

// measure holds the options of a measurement of one time series, built
// once: passing them as they are allocates nothing.
type measure struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newMeasure(set attribute.Set) measure {
	o := metric.WithAttributeSet(set)
	return measure{add: []metric.AddOption{o}, record: []metric.RecordOption{o}}
}

// series names one time series of the request instruments: its
// attributes besides the connector. Looking a series up allocates nothing,
// unlike building its attribute set afresh for every measurement.
type series struct {
	kind    seriesKind
	key     string
	model   string
	code    int    // the HTTP status, when word is ""
	word    string // the status ("no_key", "error"...) or the wait's outcome
	verdict string
}

type seriesKind uint8

const (
	seriesRequest  seriesKind = iota // key, model, status
	seriesAttempt                    // key, model, status, verdict
	seriesAbsorbed                   // key, model, status
	seriesWait                       // model, outcome
)

// measure returns the measurement options of s.
func (tel *telemetry) measure(s series) measure {
	tel.mu.RLock()
	ms, ok := tel.sets[s]
	tel.mu.RUnlock()
	if ok {
		return ms
	}
	status := s.word
	if status == "" {
		status = strconv.Itoa(s.code)
	}
	kvs := []attribute.KeyValue{tel.connector, attrModel.String(s.model)}
	switch s.kind {
	case seriesWait:
		kvs = append(kvs, attrOutcome.String(s.word))
	case seriesAttempt:
		kvs = append(kvs, attrKey.String(s.key), attrStatus.String(status), attrVerdict.String(s.verdict))
	default:
		kvs = append(kvs, attrKey.String(s.key), attrStatus.String(status))
	}
	ms = newMeasure(attribute.NewSet(kvs...))
	tel.mu.Lock()
	if tel.sets == nil {
		tel.sets = make(map[series]measure)
	}
	if len(tel.sets) < maxCachedSeries {
		tel.sets[s] = ms
	}
	tel.mu.Unlock()
	return ms
}

// maxCachedSeries bounds the series whose options are kept, whatever
// models callers name; beyond it they are built for each measurement.
const maxCachedSeries = 4096

type instruments struct {
	requests, attempts, absorbed metric.Int64Counter
	duration, wait               metric.Float64Histogram
	inFlight                     metric.Int64ObservableUpDownCounter
	keys                         metric.Int64ObservableGauge
}

// newTelemetry returns nil when neither provider records anything.
func newTelemetry(connector string, o telemetryOptions, clock Clock) (*telemetry, error) {
	if _, noop := o.meters.(metricnoop.MeterProvider); noop {
		o.meters = nil
	}
	if _, noop := o.tracers.(tracenoop.TracerProvider); noop {
		o.tracers = nil
	}
	if o.meters == nil && o.tracers == nil {
		return nil, nil
	}
	tel := &telemetry{clock: clock, connector: attrConnector.String(connector)}
	if o.tracers != nil {
		tel.tracer = o.tracers.Tracer(instrumentationName)
	}
	if o.meters == nil {
		return tel, nil
	}
	tel.meter = o.meters.Meter(instrumentationName)
	m := &instruments{}
	var err, e error
	m.requests, e = tel.meter.Int64Counter(metricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests answered by the transport."))
	err = errors.Join(err, e)
	m.attempts, e = tel.meter.Int64Counter(metricAttempts, metric.WithUnit("{request}"),
		metric.WithDescription("Requests sent upstream, resends included."))
	err = errors.Join(err, e)
	m.absorbed, e = tel.meter.Int64Counter(metricAbsorbed, metric.WithUnit("{response}"),
		metric.WithDescription("Upstream error answers the caller never saw: the request was sent again."))
	err = errors.Join(err, e)
	m.duration, e = tel.meter.Float64Histogram(metricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to the answer's headers, waits and resends included."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
	err = errors.Join(err, e)
	m.wait, e = tel.meter.Float64Histogram(metricKeyWait, metric.WithUnit("s"),
		metric.WithDescription("Time an attempt waited for a key."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.001, 0.01, 0.1, 1, 5, 10, 30, 60, 300))
	err = errors.Join(err, e)
	m.inFlight, e = tel.meter.Int64ObservableUpDownCounter(metricLeasesInFlight, metric.WithUnit("{lease}"),
		metric.WithDescription("Leases held by this process now."))
	err = errors.Join(err, e)
	m.keys, e = tel.meter.Int64ObservableGauge(metricKeys, metric.WithUnit("{key}"),
		metric.WithDescription("Keys in each state, across every process sharing the store."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, errors.New("jongler: metrics: " + err.Error())
	}
	tel.m = m
	return tel, nil
}

// inFlight counts the leases of one key this process holds; a collection
// reads it (watch), so that a lease costs an atomic add, not a measurement.
type inFlight struct {
	n   atomic.Int64
	set metric.ObserveOption // the key's attributes
}

// watch observes r's key states and this process's leases in flight at
// each collection.
func (tel *telemetry) watch(r *keyring) error {
	if tel == nil || tel.m == nil {
		return nil
	}
	tel.inFlight = make(map[string]*inFlight, len(r.keys))
	leases := make([]*inFlight, len(r.keys)) // in the keys' order
	for i, k := range r.keys {
		leases[i] = &inFlight{set: metric.WithAttributeSet(attribute.NewSet(tel.connector, attrKey.String(k.Name)))}
		tel.inFlight[k.Name] = leases[i]
	}
	states := [...]attribute.Set{
		attribute.NewSet(tel.connector, attrState.String(string(StateVacant))),
		attribute.NewSet(tel.connector, attrState.String(string(StateLocked))),
		attribute.NewSet(tel.connector, attrState.String(string(StateLockdown))),
		attribute.NewSet(tel.connector, attrState.String(string(StateError))),
	}
	keys, held := tel.m.keys, tel.m.inFlight
	reg, err := tel.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, l := range leases {
			o.ObserveInt64(held, l.n.Load(), l.set)
		}
		ks, err := r.states(ctx)
		if err != nil {
			return err
		}
		for i, l := range [...][]string{ks.Vacant, ks.Locked, ks.Lockdown, ks.Error} {
			o.ObserveInt64(keys, int64(len(l)), metric.WithAttributeSet(states[i]))
		}
		return nil
	}, keys, held)
	if err != nil {
		return errors.New("jongler: metrics: " + err.Error())
	}
	tel.reg = reg
	return nil
}

// close stops observing the key states.
func (tel *telemetry) close() error {
	if tel == nil || tel.reg == nil {
		return nil
	}
	return tel.reg.Unregister()
}

// leased and released count this process's leases in flight.
func (tel *telemetry) leased(key string)   { tel.addInFlight(key, 1) }
func (tel *telemetry) released(key string) { tel.addInFlight(key, -1) }

func (tel *telemetry) addInFlight(key string, n int64) {
	if tel == nil || tel.m == nil {
		return
	}
	if l := tel.inFlight[key]; l != nil {
		l.n.Add(n)
	}
}

// reqTel is what is recorded of one request; a nil *reqTel records nothing.
type reqTel struct {
	tel      *telemetry
	ctx      context.Context
	span     trace.Span // nil without a tracer
	start    time.Time
	model    string // for the span
	label    string // model, or otherModel, for the metrics
	attempts []attemptTel
	buf      [2]attemptTel // attempts' first home: most requests take one or two
}

// attemptTel is one request sent upstream.
type attemptTel struct {
	key     string
	status  int       // 0: the send failed
	verdict string    // "" until the policy judged the answer
	at      time.Time // for the span event
}

// begin starts recording req.
func (tel *telemetry) begin(req *http.Request) *reqTel {
	if tel == nil {
		return nil
	}
	rt := &reqTel{tel: tel, ctx: req.Context(), start: time.Now()}
	rt.attempts = rt.buf[:0]
	if tel.tracer != nil {
		rt.ctx, rt.span = tel.tracer.Start(rt.ctx, "jongler.request",
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(tel.connector, attrMethod.String(req.Method)))
	}
	return rt
}

// context returns ctx, carrying the request's span if any, so that the
// base transport's spans are its children.
func (rt *reqTel) context(ctx context.Context) context.Context {
	if rt == nil || rt.span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, rt.span)
}

// setModel notes the model the request names.
func (rt *reqTel) setModel(model string) {
	if rt != nil {
		rt.model, rt.label = model, rt.tel.modelLabel(model)
	}
}

// modelLabel returns model if the metrics may name it (one of the first
// maxModelLabels named, and not too long), else otherModel.
func (tel *telemetry) modelLabel(model string) string {
	if model == "" || tel.m == nil {
		return model
	}
	if _, ok := tel.models.Load(model); ok {
		return model
	}
	if len(model) > maxModelLen || tel.nModels.Load() >= maxModelLabels {
		return otherModel // no count for it: it would grow by one a request
	}
	if tel.nModels.Add(1) > maxModelLabels { // another request took the last place
		tel.nModels.Add(-1)
		return otherModel
	}
	if _, loaded := tel.models.LoadOrStore(model, struct{}{}); loaded {
		tel.nModels.Add(-1) // another request named it first
	}
	return model
}

// waitStart returns the clock's time before asking for a key.
func (rt *reqTel) waitStart() time.Time {
	if rt == nil || rt.tel.m == nil {
		return time.Time{}
	}
	return rt.tel.clock.Now()
}

// waitEnd records the wait for a key since start, ended by err.
func (rt *reqTel) waitEnd(start time.Time, err error) {
	if rt == nil || rt.tel.m == nil {
		return
	}
	outcome := "leased"
	if err != nil {
		outcome = errorStatus(err)
	}
	d := rt.tel.clock.Now().Sub(start)
	ms := rt.tel.measure(series{kind: seriesWait, model: rt.label, word: outcome})
	rt.tel.m.wait.Record(rt.ctx, max(d, 0).Seconds(), ms.record...)
}

// sent notes a request sent upstream with key: its answer, or err.
func (rt *reqTel) sent(key string, resp *http.Response, err error) {
	if rt == nil {
		return
	}
	a := attemptTel{key: key}
	if err == nil {
		a.status = resp.StatusCode
	}
	if rt.span != nil {
		a.at = time.Now()
	}
	rt.attempts = append(rt.attempts, a)
}

// judged notes the policy's verdict on the last answer.
func (rt *reqTel) judged(a Action) {
	if rt == nil || len(rt.attempts) == 0 {
		return
	}
	rt.attempts[len(rt.attempts)-1].verdict = a.String()
}

// end records the request's outcome: resp returned, or err.
func (tel *telemetry) end(rt *reqTel, resp *http.Response, err error) {
	if rt == nil {
		return
	}
	req := series{kind: seriesRequest, model: rt.label}
	if err != nil {
		req.word = errorStatus(err)
	} else {
		req.code = resp.StatusCode
	}
	if n := len(rt.attempts); n > 0 {
		req.key = rt.attempts[n-1].key
	}
	// The caller got the answer of the last attempt that had one, unless
	// it got an error; every other error answer was absorbed.
	seen := -1
	for i := len(rt.attempts) - 1; err == nil && i >= 0; i-- {
		if rt.attempts[i].status != 0 {
			seen = i
			break
		}
	}
	if m := tel.m; m != nil {
		ms := tel.measure(req)
		m.requests.Add(rt.ctx, 1, ms.add...)
		m.duration.Record(rt.ctx, time.Since(rt.start).Seconds(), ms.record...)
		for i, a := range rt.attempts {
			at := series{kind: seriesAttempt, key: a.key, model: rt.label, code: a.status, verdict: a.verdictText()}
			if a.status == 0 {
				at.word = "error"
			}
			m.attempts.Add(rt.ctx, 1, tel.measure(at).add...)
			if a.status >= 400 && i != seen {
				at.kind, at.verdict = seriesAbsorbed, ""
				m.absorbed.Add(rt.ctx, 1, tel.measure(at).add...)
			}
		}
	}
	if span := rt.span; span != nil {
		status := req.word
		if status == "" {
			status = strconv.Itoa(req.code)
		}
		model := attrModel.String(rt.model)
		key := req.key
		for i, a := range rt.attempts {
			span.AddEvent("attempt", trace.WithTimestamp(a.at), trace.WithAttributes(
				attrAttempt.Int(i+1), attrKey.String(a.key), attrStatus.String(a.statusText()), attrVerdict.String(a.verdictText())))
		}
		span.SetAttributes(model, attrKey.String(key), attrStatus.String(status), attrAttempts.Int(len(rt.attempts)))
		if err != nil {
			// The error's text is not recorded: a base transport's error
			// may repeat the URL, key parameter included.
			span.SetAttributes(attrErrorType.String(status))
			span.SetStatus(codes.Error, status)
		} else if resp.StatusCode >= 400 {
			span.SetStatus(codes.Error, status)
		}
		span.End()
	}
}

func (a attemptTel) statusText() string {
	if a.status == 0 {
		return "error"
	}
	return strconv.Itoa(a.status)
}

func (a attemptTel) verdictText() string {
	switch {
	case a.verdict != "":
		return a.verdict
	case a.status == 0:
		return "error"
	}
	return "accept" // passed on unread
}

// errorStatus names the kind of err for the status attribute.
func errorStatus(err error) string {
	switch {
	case errors.Is(err, ErrNoKeys):
		return "no_key"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}
