package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestShared runs the rules that hold between two handles on one store, as
// two processes (or machines) sharing it see it: newPair returns two
// handles on one empty store (the same MemoryStore twice, two FileStores
// on one directory, two Redis clients with one key prefix).
func TestShared(t *testing.T, newPair func(t *testing.T) (a, b jongler.Store)) {
	ctx := context.Background()
	keys := []string{"k1", "k2"}

	t.Run("LeasesExclusiveAcrossHandles", func(t *testing.T) {
		a, b := newPair(t)
		var held []jongler.Lease
		for range keys {
			l := mustAcquire(t, a, "c", keys, 1)
			if l == nil {
				t.Fatal("no lease with a free key")
			}
			held = append(held, l)
		}
		if l := mustAcquire(t, b, "c", keys, 1); l != nil {
			t.Fatalf("the other handle leased %q while the first held every key", l.Key())
		}
		if n, err := b.InFlight(ctx, "c", keys, 1); err != nil || n["k1"] != 1 || n["k2"] != 1 {
			t.Fatalf("the other handle counts %v in flight (%v); want k1:1 k2:1", n, err)
		}
		if err := held[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
		if l := mustAcquire(t, b, "c", keys, 1); l == nil || l.Key() != held[0].Key() {
			t.Fatalf("after a release on one handle, the other got %v; want %s", leaseKey(l), held[0].Key())
		}
	})

	t.Run("LeastRecentlyUsedAcrossHandles", func(t *testing.T) {
		a, b := newPair(t)
		first := mustAcquire(t, a, "c", keys, 1)
		if first == nil {
			t.Fatal("no lease")
		}
		first.Release(ctx)
		second := mustAcquire(t, b, "c", keys, 1)
		if second == nil || second.Key() == first.Key() {
			t.Fatalf("the other handle leased %v after %s was used: want the least recently used key", leaseKey(second), first.Key())
		}
	})

	t.Run("ManyKeysUsedInTurnAcrossHandles", func(t *testing.T) {
		// With many keys, handles taking turns use every key once before
		// any twice (a store may look at only some keys per lease, but
		// must still spread the use).
		a, b := newPair(t)
		many := make([]string, 100)
		for i := range many {
			many[i] = fmt.Sprintf("k%03d", i)
		}
		uses := map[string]int{}
		for round := range 2 {
			for i := range many {
				s := a
				if i%2 == 1 {
					s = b
				}
				l := mustAcquire(t, s, "many", many, 1)
				if l == nil {
					t.Fatal("no lease")
				}
				uses[l.Key()]++
				if n := uses[l.Key()]; n > round+1 {
					t.Fatalf("round %d: %s leased %d times while others were not yet", round+1, l.Key(), n)
				}
				l.Release(ctx)
				time.Sleep(time.Millisecond) // stores may order by a clock
			}
		}
		for _, k := range many {
			if uses[k] != 2 {
				t.Fatalf("%s leased %d times in 2 rounds; want 2", k, uses[k])
			}
		}
	})

	t.Run("ContendedUpdatesAcrossHandles", func(t *testing.T) {
		a, b := newPair(t)
		const each = 15
		var wg sync.WaitGroup
		errs := make(chan error, 2*each)
		for i := range 2 * each {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				errs <- s.Update(ctx, "c", func(cur []byte) ([]byte, error) {
					p, err := decode(cur)
					if err != nil {
						return nil, err
					}
					p.Records = append(p.Records, payloadRec{Key: fmt.Sprint("k", i), State: "ERROR"})
					return json.Marshal(p)
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []jongler.Store{a, b} {
			// A lease tells a caching store what is current.
			if l := mustAcquire(t, s, "c", keys, 1); l != nil {
				l.Release(ctx)
			}
			got, _ := s.Load(ctx, "c")
			p, err := decode(got)
			if err != nil || len(p.Records) != 2*each {
				t.Fatalf("%d updates from two handles kept %d entries (%v): some were lost", 2*each, len(p.Records), err)
			}
		}
	})

	t.Run("Budget", func(t *testing.T) { sharedBudgetRules(t, newPair) })

	t.Run("WritesSeenAfterALease", func(t *testing.T) {
		a, b := newPair(t)
		if got, _ := b.Load(ctx, "c"); len(got) != 0 {
			t.Fatalf("new store: %s", got)
		}
		want := encode(t, "from a")
		if err := a.Update(ctx, "c", func([]byte) ([]byte, error) { return want, nil }); err != nil {
			t.Fatal(err)
		}
		// The transport reads the state again after each lease, to check
		// the leased key: that read must see every write made before.
		l := mustAcquire(t, b, "c", keys, 1)
		if l == nil {
			t.Fatal("no lease")
		}
		if got, _ := b.Load(ctx, "c"); !bytes.Equal(got, want) {
			t.Fatalf("after a lease, the other handle loads %s; want %s", got, want)
		}
	})
}
