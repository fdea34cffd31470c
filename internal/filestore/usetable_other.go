//go:build !unix

package filestore

import (
	"context"
	"log/slog"
	"sync"
)

// On systems without shared mappings the use table lives in the process:
// the least recently used key is known within it only.
type useTable struct {
	mu     sync.Mutex
	index  map[string]int
	stamps []int64
}

func openUseTable(dir string, _ *slog.Logger) (*useTable, error) {
	return &useTable{index: map[string]int{}}, nil
}

func (t *useTable) records(_ context.Context, keys []string) ([]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]int, len(keys))
	for i, k := range keys {
		r, ok := t.index[k]
		if !ok {
			r = len(t.stamps)
			t.stamps = append(t.stamps, 0)
			t.index[k] = r
		}
		out[i] = r
	}
	return out, nil
}

func (t *useTable) load(r int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stamps[r]
}

func (t *useTable) epoch() int64 { return 0 }

func (t *useTable) leastUsed(recs []int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	best := 0
	for i, r := range recs {
		if t.stamps[r] < t.stamps[recs[best]] {
			best = i
		}
	}
	return best
}

func (t *useTable) loadAll(recs []int, used []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, r := range recs {
		used[i] = t.stamps[r]
	}
}

func (t *useTable) store(r int, v int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stamps[r] = v
}

// generation is unknown here: readers look at the file.
func (t *useTable) generation() int64 { return -1 }

func (t *useTable) bump() {}

// Lock files are opened for each lease here: no generation is needed.
func (t *useTable) slotGeneration() (int64, bool) { return -1, false }
func (t *useTable) bumpSlotGeneration()           {}

func (t *useTable) close() error { return nil }

// A process cannot outlive its own leases: none is ever held by the dead.
func (t *useTable) hold(r, slots int) (int64, bool) { return 0, false }
func (t *useTable) unhold(r int)                    {}
func (t *useTable) restsUntil(r int) int64          { return 0 }
func (t *useTable) rest(r int, until int64)         {}
