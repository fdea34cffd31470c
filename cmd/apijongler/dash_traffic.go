package main

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The transports' metrics the dashboard counts (telemetry.go of the root
// package names them): requests answered, by status, and upstream error
// answers absorbed (sent again with another key), by status.
const (
	metricRequests = "jongler.requests"
	metricAbsorbed = "jongler.upstream.absorbed"
	trafficMinutes = 60  // the ring's length: the last hour
	trafficMaxConn = 256 // connectors counted at most, whatever reloads bring
)

// trafficCounts is what the dashboard counts for a connector in a minute.
type trafficCounts struct {
	Requests int64 `json:"requests"`
	// Absorbed429 counts the upstream's 429 answers the client never saw:
	// the request went again with another key.
	Absorbed429 int64 `json:"absorbed_429"`
	// Passed429 counts the 429 answers clients got (the upstream's, or
	// the transport's own when no key could serve).
	Passed429 int64 `json:"passed_429"`
}

func (c *trafficCounts) add(d trafficCounts) {
	c.Requests += d.Requests
	c.Absorbed429 += d.Absorbed429
	c.Passed429 += d.Passed429
}

// trafficRing holds a connector's counts of the last trafficMinutes
// minutes, one slot a minute, reused as minutes pass.
type trafficRing struct {
	minute [trafficMinutes]int64 // the Unix minute each slot counts
	counts [trafficMinutes]trafficCounts
}

func (r *trafficRing) add(m int64, d trafficCounts) {
	i := m % trafficMinutes
	if r.minute[i] != m {
		r.minute[i], r.counts[i] = m, trafficCounts{}
	}
	r.counts[i].add(d)
}

// last returns the counts of the trafficMinutes minutes up to minute m,
// oldest first, and their sum.
func (r *trafficRing) last(m int64) (series []trafficCounts, total trafficCounts) {
	series = make([]trafficCounts, trafficMinutes)
	for k := range int64(trafficMinutes) {
		mm := m - trafficMinutes + 1 + k
		if mm < 0 {
			continue
		}
		if i := mm % trafficMinutes; r.minute[i] == mm {
			series[k] = r.counts[i]
			total.add(r.counts[i])
		}
	}
	return series, total
}

// traffic counts, per connector and minute, the requests of the last hour
// and their 429s, from the metrics the transports record: a reader of
// serve's meter provider, collected at most once a second, when the
// dashboard asks. Counts land in the minute they are collected in.
type traffic struct {
	reader *sdkmetric.ManualReader
	now    func() time.Time

	mu      sync.Mutex
	last    map[string]trafficCounts // the cumulative totals last collected
	rings   map[string]*trafficRing
	collect time.Time
}

func newTraffic() *traffic {
	return &traffic{
		reader: sdkmetric.NewManualReader(),
		now:    time.Now,
		last:   map[string]trafficCounts{},
		rings:  map[string]*trafficRing{},
	}
}

// update collects the metrics, unless it did less than a second ago, and
// adds what changed to the current minute.
func (t *traffic) update(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.Sub(t.collect) < time.Second && !t.collect.IsZero() {
		return
	}
	t.collect = now
	var rm metricdata.ResourceMetrics
	if err := t.reader.Collect(ctx, &rm); err != nil {
		return // shut down: the counts stay as they are
	}
	totals := map[string]trafficCounts{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || (m.Name != metricRequests && m.Name != metricAbsorbed) {
				continue
			}
			for _, dp := range sum.DataPoints {
				conn, _ := dp.Attributes.Value(attribute.Key("connector"))
				status, _ := dp.Attributes.Value(attribute.Key("status"))
				c := totals[conn.AsString()]
				switch {
				case m.Name == metricRequests:
					c.Requests += dp.Value
					if status.AsString() == "429" {
						c.Passed429 += dp.Value
					}
				case status.AsString() == "429":
					c.Absorbed429 += dp.Value
				}
				totals[conn.AsString()] = c
			}
		}
	}
	minute := now.Unix() / 60
	for conn, c := range totals {
		prev := t.last[conn]
		d := trafficCounts{
			Requests:    max(0, c.Requests-prev.Requests),
			Absorbed429: max(0, c.Absorbed429-prev.Absorbed429),
			Passed429:   max(0, c.Passed429-prev.Passed429),
		}
		r := t.rings[conn]
		if r == nil {
			if len(t.rings) >= trafficMaxConn {
				continue
			}
			r = &trafficRing{}
			t.rings[conn] = r
		}
		t.last[conn] = c
		r.add(minute, d)
	}
}

// hour returns the counts of connector's last hour, a minute a slot,
// oldest first, and their sum.
func (t *traffic) hour(connector string) ([]trafficCounts, trafficCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rings[connector]
	if r == nil {
		r = &trafficRing{}
	}
	return r.last(t.now().Unix() / 60)
}
