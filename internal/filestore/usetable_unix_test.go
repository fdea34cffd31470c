//go:build unix

package filestore

import (
	"context"
	"fmt"
	"testing"
)

// TestFileStoreLRUWindowFair: with more keys than a lease looks at (lruWindow),
// two stores on one directory (as two processes) leasing in turn use every
// key, none starved and none twice as often as another, and never lease a
// key another holds.
func TestFileStoreLRUWindowFair(t *testing.T) {
	for _, n := range []int{17, 40, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			var stores [2]*Store
			for i := range stores {
				s, err := New(dir, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				stores[i] = s
			}
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%03d", i)
			}
			ctx := context.Background()
			// Keys 0, 5, 10, ... held for the whole test by store 0.
			held := map[string]bool{}
			var holds []*Lease
			for i := 0; i < n; i += 5 {
				l, err := stores[0].Acquire(ctx, "c", []string{keys[i]}, 1)
				if err != nil || l == nil {
					t.Fatalf("hold %s: %v %v", keys[i], l, err)
				}
				held[keys[i]] = true
				holds = append(holds, l)
			}
			free := n - len(held)
			uses := map[string]int{}
			rounds := 10 * free
			for i := range rounds {
				l, err := stores[i%2].Acquire(ctx, "c", keys, 1)
				if err != nil || l == nil {
					t.Fatalf("acquire %d: %v %v", i, l, err)
				}
				if held[l.Key()] {
					t.Fatalf("acquire %d: leased %s, held by another", i, l.Key())
				}
				uses[l.Key()]++
				l.Release(ctx)
			}
			lo, hi := rounds, 0
			for _, k := range keys {
				if held[k] {
					continue
				}
				lo, hi = min(lo, uses[k]), max(hi, uses[k])
			}
			if lo < 5 || hi > 20 {
				t.Errorf("uses per free key from %d to %d over %d leases of %d keys; want about 10 each: %v", lo, hi, rounds, free, uses)
			}
			for _, l := range holds {
				l.Release(ctx)
			}
		})
	}
}
