package jonglertest

import "testing"

// An overlap is one after cancel only if every request in flight at its
// arrival ended canceled, and it is judged when the last of them ends.
func TestOverlapsAfterCancel(t *testing.T) {
	type step struct {
		arrive  int     // a request (by number) arrives with the key, or
		finish  int     // ends (by number) with outcome
		outcome outcome // for finish
	}
	a := func(n int) step { return step{arrive: n} }
	ok := func(n int) step { return step{finish: n, outcome: outcomeSuccess} }
	cut := func(n int) step { return step{finish: n, outcome: outcomeFailed} }
	gone := func(n int) step { return step{finish: n, outcome: outcomeCanceled} }
	tests := []struct {
		name                string
		steps               []step
		overlaps, afterGone int
	}{
		{"sequential", []step{a(1), ok(1), a(2), ok(2)}, 0, 0},
		{"both live", []step{a(1), a(2), ok(1), ok(2)}, 1, 0},
		{"first gone", []step{a(1), a(2), gone(1), ok(2)}, 1, 1},
		{"first answered with an error", []step{a(1), a(2), cut(1), ok(2)}, 1, 0},
		{"second gone", []step{a(1), a(2), ok(1), gone(2)}, 1, 0},
		{"one of two gone", []step{a(1), a(2), a(3), gone(1), ok(2), ok(3)}, 2, 1},
		{"two of two gone", []step{a(1), a(2), a(3), gone(1), gone(2), ok(3)}, 2, 2},
		{"pending while one is in flight", []step{a(1), a(2), a(3), gone(1)}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(Config{Keys: []Key{{Label: "k", Value: "value-k", Project: "p"}}})
			trackers := map[int]*tracker{}
			for _, st := range tt.steps {
				if st.arrive != 0 {
					trackers[st.arrive] = &tracker{}
					s.arrive(trackers[st.arrive], "value-k", 1)
					continue
				}
				tr := trackers[st.finish]
				tr.outcome = st.outcome
				s.finish(tr)
			}
			got := s.Stats()
			if got.Overlaps != tt.overlaps || got.OverlapsAfterCancel != tt.afterGone {
				t.Errorf("overlaps %d, after cancel %d; want %d, %d", got.Overlaps, got.OverlapsAfterCancel, tt.overlaps, tt.afterGone)
			}
			if k := got.Keys["k"]; k.Overlaps != got.Overlaps || k.OverlapsAfterCancel != got.OverlapsAfterCancel {
				t.Errorf("key k: overlaps %d, after cancel %d; want the totals", k.Overlaps, k.OverlapsAfterCancel)
			}
			afterCancel := 0
			for _, o := range got.OverlapLog {
				if o.Key != "k" || o.Arrived.IsZero() {
					t.Errorf("logged %+v", o)
				}
				if o.AfterCancel {
					afterCancel++
				}
			}
			if len(got.OverlapLog) != tt.overlaps || afterCancel != tt.afterGone {
				t.Errorf("%d overlaps logged, %d after cancel; want %d, %d", len(got.OverlapLog), afterCancel, tt.overlaps, tt.afterGone)
			}
		})
	}
}

// The overlap log keeps the first MaxOverlapLog; the counts go on.
func TestOverlapLogBounded(t *testing.T) {
	s := newServer(Config{Keys: []Key{{Label: "k", Value: "value-k", Project: "p"}}})
	for range MaxOverlapLog + 2 {
		s.arrive(&tracker{}, "value-k", 1)
	}
	got := s.Stats()
	if got.Overlaps != MaxOverlapLog+1 || len(got.OverlapLog) != MaxOverlapLog {
		t.Errorf("%d overlaps, %d logged; want %d, %d", got.Overlaps, len(got.OverlapLog), MaxOverlapLog+1, MaxOverlapLog)
	}
}
