// Package storetest checks that a [jongler.Store] keeps the contract the
// transport relies on, in the spirit of testing/fstest: every store of this
// module passes it, and a new store (a networked one, say) can be held to
// the same rules with one call from its tests.
//
// The states it saves are written as the transport writes them (a JSON
// object with a version and records), since a store may check what it is
// given; a store must keep them byte for byte.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// payload is a state as the transport writes it, reduced to what the tests
// need.
type payload struct {
	Version int          `json:"version"`
	Records []payloadRec `json:"records,omitempty"`
}

type payloadRec struct {
	Key    string `json:"key"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

func encode(t *testing.T, reasons ...string) []byte {
	t.Helper()
	p := payload{Version: 1}
	for i, r := range reasons {
		p.Records = append(p.Records, payloadRec{Key: fmt.Sprint("k", i), State: "ERROR", Reason: r})
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decode(data []byte) (payload, error) {
	var p payload
	if len(data) == 0 {
		return payload{Version: 1}, nil
	}
	err := json.Unmarshal(data, &p)
	return p, err
}

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
		if err := held[1].Release(ctx); err != nil {
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
		a.Release(ctx)
		a.Release(ctx) // twice is harmless
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
			l.Release(ctx)
			time.Sleep(2 * time.Millisecond) // stores may order by a clock
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
		want := encode(t, "r")
		if err := s.Update(ctx, "c1", func([]byte) ([]byte, error) { return want, nil }); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(ctx, "c2"); len(got) != 0 {
			t.Fatalf("c2 sees c1's state: %s", got)
		}
		if got, _ := s.Load(ctx, "c1"); !bytes.Equal(got, want) {
			t.Fatalf("c1's state %s, want %s", got, want)
		}
	})

	t.Run("LoadEmpty", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.Load(ctx, "c"); err != nil || len(got) != 0 {
			t.Fatalf("Load of a new connector = %q, %v; want nothing", got, err)
		}
		var seen []byte
		if err := s.Update(ctx, "c", func(cur []byte) ([]byte, error) { seen = cur; return encode(t), nil }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 0 {
			t.Fatalf("the first Update was given %q", seen)
		}
	})

	t.Run("UpdatePersists", func(t *testing.T) {
		s := newStore(t)
		want := encode(t, "429", "second")
		if err := s.Update(ctx, "c", func([]byte) ([]byte, error) { return want, nil }); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Load = %s, want %s", got, want)
		}
		// The next Update is given what was saved.
		var seen []byte
		if err := s.Update(ctx, "c", func(cur []byte) ([]byte, error) { seen = bytes.Clone(cur); return cur, nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(seen, want) {
			t.Fatalf("Update was given %s, want %s", seen, want)
		}
	})

	t.Run("UpdateErrorWritesNothing", func(t *testing.T) {
		s := newStore(t)
		boom := errors.New("boom")
		err := s.Update(ctx, "c", func([]byte) ([]byte, error) { return encode(t, "no"), boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		if got, _ := s.Load(ctx, "c"); len(got) != 0 {
			t.Fatalf("a failed Update wrote %s", got)
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
				err := s.Update(ctx, "c", func(cur []byte) ([]byte, error) {
					p, err := decode(cur)
					if err != nil {
						return nil, err
					}
					p.Records = append(p.Records, payloadRec{Key: fmt.Sprint("k", i), State: "ERROR"})
					return json.Marshal(p)
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
		got, _ := s.Load(ctx, "c")
		p, err := decode(got)
		if err != nil || len(p.Records) != n {
			t.Fatalf("%d concurrent updates kept %d entries (%v): some were lost", n, len(p.Records), err)
		}
	})

	t.Run("UpdateLeavesLeases", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, "c", []string{"k1"}, 1)
		if err := s.Update(ctx, "c", func([]byte) ([]byte, error) { return encode(t), nil }); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.InFlight(ctx, "c", []string{"k1"}, 1); n["k1"] != 1 {
			t.Fatal("an Update ended a lease in flight")
		}
		l.Release(ctx)
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
					l.Release(ctx)
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

	t.Run("Budget", func(t *testing.T) { budgetRules(t, newStore) })

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if l, err := s.Acquire(cctx, "c", keys, 1); err == nil && l != nil {
			t.Fatal("Acquire leased with a cancelled context")
		}
		if err := s.Update(cctx, "c", func([]byte) ([]byte, error) { return encode(t, "x"), nil }); err == nil {
			if got, _ := s.Load(ctx, "c"); len(got) != 0 {
				t.Fatal("Update wrote with a cancelled context")
			}
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
		t.Cleanup(func() { l.Release(context.Background()) })
	}
	return l
}

func leaseKey(l jongler.Lease) string {
	if l == nil {
		return "no lease"
	}
	return l.Key()
}
