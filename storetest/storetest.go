// Package storetest checks that a [jongler.Store] keeps the contract the
// transport relies on, in the spirit of testing/fstest: every store of this
// module passes it, and a new store (a networked one, say) can be held to
// the same rules with one call from its tests.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestStore runs the conformance tests against stores made by newStore,
// which is called once per subtest and must return an empty store.
func TestStore(t *testing.T, newStore func(t *testing.T) jongler.Store) {
	ctx := context.Background()
	keys := []string{"k1", "k2", "k3"}

	t.Run("AcquireExclusive", func(t *testing.T) {
		s := newStore(t)
		var held []jongler.Lease
		for range keys {
			l := mustAcquire(t, s, "c", keys, 1)
			if l == nil {
				t.Fatalf("Acquire returned no lease with a free key; held %d", len(held))
			}
			for _, h := range held {
				if h.Key() == l.Key() {
					t.Fatalf("key %q leased twice with one slot", l.Key())
				}
			}
			held = append(held, l)
		}
		if l := mustAcquire(t, s, "c", keys, 1); l != nil {
			t.Fatalf("Acquire leased %q while every slot was held", l.Key())
		}
		if err := held[1].Release(); err != nil {
			t.Fatal(err)
		}
		l := mustAcquire(t, s, "c", keys, 1)
		if l == nil || l.Key() != held[1].Key() {
			t.Fatalf("after releasing %q, Acquire gave %v", held[1].Key(), leaseKey(l))
		}
	})

	t.Run("Slots", func(t *testing.T) {
		s := newStore(t)
		one := []string{"k1"}
		a := mustAcquire(t, s, "c", one, 2)
		b := mustAcquire(t, s, "c", one, 2)
		if a == nil || b == nil {
			t.Fatal("two slots did not give two leases")
		}
		if c := mustAcquire(t, s, "c", one, 2); c != nil {
			t.Fatal("a third lease with two slots")
		}
		n, err := s.InFlight(ctx, "c", one, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n["k1"] != 2 {
			t.Fatalf("InFlight = %v, want k1:2", n)
		}
		a.Release()
		a.Release() // twice is harmless
		if n, _ := s.InFlight(ctx, "c", one, 2); n["k1"] != 1 {
			t.Fatalf("InFlight after one release (twice) = %v, want k1:1", n)
		}
		if c := mustAcquire(t, s, "c", one, 2); c == nil {
			t.Fatal("a released slot was not leasable")
		}
	})

	t.Run("LeastRecentlyUsed", func(t *testing.T) {
		s := newStore(t)
		var order []string
		for range 6 {
			l := mustAcquire(t, s, "c", keys, 1)
			if l == nil {
				t.Fatal("no lease")
			}
			order = append(order, l.Key())
			l.Release()
			time.Sleep(2 * time.Millisecond) // file stores order by mtime
		}
		first := slices.Clone(order[:3])
		slices.Sort(first)
		if !slices.Equal(first, keys) || !slices.Equal(order[:3], order[3:]) {
			t.Fatalf("lease order %v: want each key once, then the same round again", order)
		}
	})

	t.Run("ConnectorsAreSeparate", func(t *testing.T) {
		s := newStore(t)
		a := mustAcquire(t, s, "c1", []string{"k1"}, 1)
		b := mustAcquire(t, s, "c2", []string{"k1"}, 1)
		if a == nil || b == nil {
			t.Fatal("the same key name under two connectors must lease independently")
		}
		if err := s.Update(ctx, "c1", func(st *jongler.State) error {
			st.Records = append(st.Records, jongler.Record{Key: "k1", State: jongler.StateError, Reason: "r"})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Load(ctx, "c2"); len(st.Records) != 0 {
			t.Fatalf("c2 sees c1's records: %+v", st.Records)
		}
	})

	t.Run("UpdatePersists", func(t *testing.T) {
		s := newStore(t)
		until := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
		want := jongler.Record{Key: "k2", State: jongler.StateLockdown, Model: "m", Until: until, Reason: "429"}
		if err := s.Update(ctx, "c", func(st *jongler.State) error {
			st.Records = append(st.Records, want)
			st.Backoff = until
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Load(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Records) != 1 || st.Records[0].Key != want.Key || st.Records[0].State != want.State ||
			st.Records[0].Model != want.Model || !st.Records[0].Until.Equal(until) || st.Records[0].Reason != want.Reason {
			t.Fatalf("Load = %+v, want %+v", st.Records, want)
		}
		if !st.Backoff.Equal(until) {
			t.Fatalf("Backoff = %v, want %v", st.Backoff, until)
		}
		// The loaded state is a copy: changing it changes nothing stored.
		st.Records[0].Reason = "changed"
		if again, _ := s.Load(ctx, "c"); again.Records[0].Reason != "429" {
			t.Fatal("Load returned state shared with the store")
		}
	})

	t.Run("UpdateErrorWritesNothing", func(t *testing.T) {
		s := newStore(t)
		boom := fmt.Errorf("boom")
		err := s.Update(ctx, "c", func(st *jongler.State) error {
			st.Records = append(st.Records, jongler.Record{Key: "k1", State: jongler.StateError})
			return boom
		})
		if err != boom {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		if st, _ := s.Load(ctx, "c"); len(st.Records) != 0 {
			t.Fatalf("a failed Update wrote %+v", st.Records)
		}
	})

	t.Run("UpdatesAreSerialised", func(t *testing.T) {
		s := newStore(t)
		const n = 40
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Update(ctx, "c", func(st *jongler.State) error {
					st.Usage = append(st.Usage, jongler.Usage{Project: fmt.Sprint("p", i), Window: "minute", Count: 1})
					return nil
				})
				if err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("%d updates failed", failed.Load())
		}
		if st, _ := s.Load(ctx, "c"); len(st.Usage) != n {
			t.Fatalf("%d concurrent updates kept %d entries: some were lost", n, len(st.Usage))
		}
	})

	t.Run("Clear", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []string{"c1", "c2"} {
			if err := s.Update(ctx, c, func(st *jongler.State) error {
				st.Records = append(st.Records, jongler.Record{Key: "k1", State: jongler.StateError, Reason: "401"})
				st.Backoff = time.Now().Add(time.Hour)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		l := mustAcquire(t, s, "c1", []string{"k1"}, 1)
		if err := s.Clear(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Load(ctx, "c1"); len(st.Records) != 0 || !st.Backoff.IsZero() {
			t.Fatalf("Clear(c1) left %+v", st)
		}
		if st, _ := s.Load(ctx, "c2"); len(st.Records) != 1 {
			t.Fatal("Clear(c1) touched c2")
		}
		if n, _ := s.InFlight(ctx, "c1", []string{"k1"}, 1); n["k1"] != 1 {
			t.Fatal("Clear must not end leases in flight")
		}
		l.Release()
		if err := s.Clear(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Load(ctx, "c2"); len(st.Records) != 0 {
			t.Fatalf(`Clear("") left c2 with %+v`, st.Records)
		}
	})

	t.Run("ConcurrentLeasesNeverOverlap", func(t *testing.T) {
		s := newStore(t)
		var inUse [3]atomic.Int32
		var wg sync.WaitGroup
		var overlaps, leases atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					l, err := s.Acquire(ctx, "c", keys, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if l == nil {
						time.Sleep(50 * time.Microsecond)
						continue
					}
					leases.Add(1)
					i := slices.Index(keys, l.Key())
					if inUse[i].Add(1) > 1 {
						overlaps.Add(1)
					}
					time.Sleep(20 * time.Microsecond)
					inUse[i].Add(-1)
					l.Release()
				}
			}()
		}
		wg.Wait()
		if overlaps.Load() > 0 {
			t.Fatalf("%d times a key was leased twice at once", overlaps.Load())
		}
		if leases.Load() == 0 {
			t.Fatal("no lease was granted")
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if l, err := s.Acquire(cctx, "c", keys, 1); err == nil && l != nil {
			t.Fatal("Acquire leased with a cancelled context")
		}
	})
}

func mustAcquire(t *testing.T, s jongler.Store, connector string, keys []string, slots int) jongler.Lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), connector, keys, slots)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if l != nil {
		t.Cleanup(func() { l.Release() })
	}
	return l
}

func leaseKey(l jongler.Lease) string {
	if l == nil {
		return "no lease"
	}
	return l.Key()
}
