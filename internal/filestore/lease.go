package filestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// Acquire leases one of keys of connector, each with slots slots, without
// waiting; nil, nil when every slot of every key is held. Keys are tried
// from the least recently used by any process, as told by the use table;
// a key whose last holder died rests for DeadHolderRest first.
func (s *Store) Acquire(ctx context.Context, connector string, keys []string, slots int) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	if err := fc.declareSlots(ctx, max(slots, 1)); err != nil {
		return nil, err
	}
	var recs []int
	if fc.table != nil {
		if recs, err = fc.records(ctx, keys); isRefusal(err) || ctx.Err() != nil {
			return nil, err
		} else if err != nil {
			s.logger.Warn("jongler: use table", "err", err)
			recs = nil
		}
	}
	candAt := func(i int) fileCand {
		if recs == nil {
			return fileCand{keys[i], -1}
		}
		return fileCand{keys[i], recs[i]}
	}
	// The least recently used key first; the others, sorted, only if it
	// cannot be had.
	first := 0
	if recs != nil {
		first = fc.table.leastUsed(recs)
	}
	cands := []fileCand{candAt(first)}
	slots = max(slots, 1)
	now := time.Now()
	for pass := 0; pass < 2 && len(cands) > 0; pass++ {
		if pass == 1 {
			cands = cands[:0]
			for i := range keys {
				if i != first {
					cands = append(cands, candAt(i))
				}
			}
			if recs != nil {
				used := make([]int64, len(recs))
				fc.table.loadAll(recs, used)
				stamp := make(map[string]int64, len(keys))
				for i, k := range keys {
					stamp[k] = used[i]
				}
				slices.SortStableFunc(cands, func(a, b fileCand) int { return cmp.Compare(stamp[a.key], stamp[b.key]) })
			}
		}
	next:
		for _, c := range cands {
			if c.rec >= 0 && fc.resting(c.rec) {
				continue
			}
			for slot := range slots {
				l, err := fc.tryLock(c.key, slot)
				if errors.Is(err, errDirReplaced) {
					if _, err := s.reopen(ctx, fc, safeName(connector)); err != nil {
						return nil, err
					}
					return s.Acquire(ctx, connector, keys, slots)
				}
				if err != nil {
					return nil, fmt.Errorf("jongler: lease %q: %w", c.key, err)
				}
				if l == nil {
					continue
				}
				lease := &Lease{key: c.key, lock: l, fc: fc, rec: c.rec}
				if c.rec < 0 {
					return lease, nil
				}
				dead, nonsense := fc.table.hold(c.rec, slots)
				if nonsense {
					s.logger.Warn("jongler: use table held a nonsense lease count; reset", "connector", connector, "key", c.key)
				}
				if dead > 0 {
					fc.table.rest(c.rec, time.Now().Add(DeadHolderRest).UnixNano())
					lease.Release(ctx)
					s.logger.Warn("jongler: a process died holding a key; the key rests, as its request may still be in flight upstream",
						"connector", connector, "key", c.key, "for", DeadHolderRest)
					continue next
				}
				// Looked at again under the flock: a taker that found a dead
				// holder sets the rest before it gives the flock back, maybe
				// after this process first looked.
				if fc.resting(c.rec) {
					lease.Release(ctx)
					continue next
				}
				fc.table.store(c.rec, now.UnixNano())
				return lease, nil
			}
		}
	}
	return nil, nil
}

// fileCand is a key Acquire may lease, and its use table record (-1 if
// none).
type fileCand struct {
	key string
	rec int
}

// records returns the use table records of keys, looked up once per key
// list: the transport asks with the same list request after request.
func (fc *fileConnector) records(ctx context.Context, keys []string) ([]int, error) {
	epoch := fc.table.epoch()
	fc.mu.Lock()
	for i, l := range fc.recLists {
		if l != nil && l.epoch == epoch && SameNames(l.names, keys) {
			copy(fc.recLists[1:i+1], fc.recLists[:i])
			fc.recLists[0] = l
			fc.mu.Unlock()
			return l.recs, nil
		}
	}
	fc.mu.Unlock()
	recs, err := fc.table.records(ctx, keys)
	if err != nil {
		return nil, err
	}
	l := &recList{names: slices.Clone(keys), recs: recs, epoch: epoch}
	fc.mu.Lock()
	copy(fc.recLists[1:], fc.recLists[:len(fc.recLists)-1])
	fc.recLists[0] = l
	fc.mu.Unlock()
	return recs, nil
}

// recList is a key list with its use table records.
type recList struct {
	names []string // a copy: the caller's slice may change
	recs  []int    // shared: never modified
	epoch int64    // of the use table when looked up
}

// Lease is a slot of a key held by this process, until Release.
type Lease struct {
	key  string
	lock slotLock
	fc   *fileConnector
	rec  int // the key's use table record; -1 if none
	once sync.Once
	err  error
}

// Key names the leased key.
func (l *Lease) Key() string { return l.key }

// Lost returns nil: a flock cannot be lost while its process lives.
func (l *Lease) Lost() <-chan struct{} { return nil }

// Release gives the slot back; releasing twice is harmless.
func (l *Lease) Release(context.Context) error {
	l.once.Do(func() {
		if l.rec >= 0 {
			l.fc.table.unhold(l.rec) // before the flock goes: see hold
		}
		l.err = l.lock.Unlock()
		l.fc.unheld(l.lock.Path())
	})
	return l.err
}

// InFlight counts the held slots of each of keys of connector. It probes
// each slot: a slot it cannot lock is held by a lease, here or in another
// process.
func (s *Store) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, k := range keys {
		for slot := range max(slots, 1) {
			l := flock.New(fc.slotPath(k, slot), flock.SetFlag(slotOpenFlag))
			ok, err := l.TryLock()
			if errors.Is(err, fs.ErrNotExist) {
				continue // never leased (probing makes no file)
			}
			if err != nil {
				return nil, fmt.Errorf("jongler: probe %q: %w", k, err)
			}
			if ok {
				_ = l.Unlock()
			} else {
				out[k]++
			}
		}
	}
	return out, nil
}
