package jongler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMemoryStoreLeastRecentlyUsed checks the lease queue against the
// obvious model (a last-use counter per key, the smallest among the keys
// asked for and not full wins, ties to the first asked) over random lists,
// slot counts and releases.
func TestMemoryStoreLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	all := make([]string, 12)
	for i := range all {
		all[i] = fmt.Sprintf("k%02d", i)
	}
	m := NewMemoryStore()
	lastUsed, inFlight := map[string]int{}, map[string]int{}
	seq := 0
	var held []Lease
	for step := range 5000 {
		if len(held) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(held))
			l := held[i]
			held = slices.Delete(held, i, i+1)
			inFlight[l.Key()]--
			l.Release(ctx)
			continue
		}
		// A random subset, in a random order; the same list object at times.
		n := 1 + rng.IntN(len(all))
		keys := slices.Clone(all)
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		keys = keys[:n]
		slots := 1 + rng.IntN(2)
		want := ""
		for _, k := range keys {
			if inFlight[k] < slots && (want == "" || lastUsed[k] < lastUsed[want]) {
				want = k
			}
		}
		l, err := m.Acquire(ctx, "c", keys, slots)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if l != nil {
			got = l.Key()
		}
		// Keys never leased tie at zero; any of them is right.
		if got != want && !(got != "" && lastUsed[got] == 0 && lastUsed[want] == 0 && inFlight[got] < slots && slices.Contains(keys, got)) {
			t.Fatalf("step %d: Acquire(%v, %d) = %q, want %q (last used %v, in flight %v)", step, keys, slots, got, want, lastUsed, inFlight)
		}
		if l != nil {
			seq++
			lastUsed[got] = seq
			inFlight[got]++
			held = append(held, l)
		}
	}
}
