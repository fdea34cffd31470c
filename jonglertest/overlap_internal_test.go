package jonglertest

import (
	"slices"
	"testing"
)

// The overlap log names the clients in flight with the key at each
// overlap, and forgets those that finished.
func TestOverlapLogClients(t *testing.T) {
	type step struct {
		arrive, finish string // a client's request arrives, or finishes
	}
	a := func(c string) step { return step{arrive: c} }
	f := func(c string) step { return step{finish: c} }
	tests := []struct {
		name  string
		steps []step
		want  []Overlap // Key, Client and Others of each overlap
	}{
		{"sequential", []step{a("c1"), f("c1"), a("c2"), f("c2")}, nil},
		{"two at once", []step{a("c1"), a("c2"), f("c1"), f("c2")},
			[]Overlap{{Client: "c2", Others: []string{"c1"}}}},
		{"three at once", []step{a("c3"), a("c1"), a("c2")},
			[]Overlap{{Client: "c1", Others: []string{"c3"}}, {Client: "c2", Others: []string{"c1", "c3"}}}},
		{"a finished one is no longer in flight", []step{a("c1"), a("c2"), f("c1"), a("c3"), f("c2"), a("c4")},
			[]Overlap{{Client: "c2", Others: []string{"c1"}}, {Client: "c3", Others: []string{"c2"}}, {Client: "c4", Others: []string{"c3"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(Config{Keys: []Key{{Label: "k", Value: "value-k", Project: "p"}}})
			trackers := map[string]*tracker{}
			for _, st := range tt.steps {
				if st.arrive != "" {
					trackers[st.arrive] = &tracker{client: st.arrive}
					s.arrive(trackers[st.arrive], "value-k", 1)
					continue
				}
				tr := trackers[st.finish]
				tr.outcome = outcomeSuccess
				s.finish(tr)
			}
			got := s.Stats()
			if got.Overlaps != len(tt.want) || got.Keys["k"].Overlaps != len(tt.want) || len(got.OverlapLog) != len(tt.want) {
				t.Fatalf("%d overlaps (key k: %d), %d logged; want %d", got.Overlaps, got.Keys["k"].Overlaps, len(got.OverlapLog), len(tt.want))
			}
			for i, o := range got.OverlapLog {
				w := tt.want[i]
				if o.Key != "k" || o.Client != w.Client || !slices.Equal(o.Others, w.Others) || o.Arrived.IsZero() {
					t.Errorf("overlap %d: %+v; want client %s, others %v", i, o, w.Client, w.Others)
				}
			}
		})
	}
}

// The overlap log keeps the first MaxOverlapLog; the counts go on.
func TestOverlapLogBounded(t *testing.T) {
	s := newServer(Config{Keys: []Key{{Label: "k", Value: "value-k", Project: "p"}}})
	for range MaxOverlapLog + 2 {
		s.arrive(&tracker{client: "c"}, "value-k", 1)
	}
	got := s.Stats()
	if got.Overlaps != MaxOverlapLog+1 || len(got.OverlapLog) != MaxOverlapLog {
		t.Errorf("%d overlaps, %d logged; want %d, %d", got.Overlaps, len(got.OverlapLog), MaxOverlapLog+1, MaxOverlapLog)
	}
}
