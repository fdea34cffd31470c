package filestore

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Every process sharing a state directory must lease a connector's keys
// with the same number of slots per key (the transport's WithMaxInFlight):
// slot files are numbered, so a process allowing 2 takes slot 1 while one
// allowing 1 holds slot 0, and the key carries two requests where one was
// promised; the dead-holder count of the use table then also reads the
// other's leases as those of the dead.
//
// So each store declares its count per connector, at its first lease, by a
// shared flock on DIR/CONNECTOR/slots.N.lock held until the store is
// closed (or its process dies: the kernel frees it). Under slots.lock, a
// store asking for N probes every other slots.M.lock with an exclusive
// flock: one it cannot take is held by a live store with another count,
// and the lease is refused with an error naming both counts.

// declareSlots declares that this store leases connector fc's keys with
// slots slots per key, or refuses if a live store uses another count.
func (fc *fileConnector) declareSlots(ctx context.Context, slots int) error {
	if n := fc.slots.Load(); n == int64(slots) {
		return nil
	}
	fc.slotsMu.Lock()
	defer fc.slotsMu.Unlock()
	if n := fc.slots.Load(); n == int64(slots) {
		return nil
	} else if n != 0 {
		return fc.mismatch(int(n), slots)
	}
	guard := newStateLock(filepath.Join(fc.dir, "slots.lock"))
	ok, err := guard.TryLockContext(ctx, time.Millisecond)
	if ctx.Err() != nil {
		if ok {
			guard.Unlock()
		}
		return fmt.Errorf("jongler: waiting for %s: %w", guard.Path(), ctx.Err())
	}
	if err != nil {
		return refusedLink(guard.Path(), err)
	}
	if err := checkLock(guard); err != nil {
		return err
	}
	defer guard.Unlock()
	others, err := filepath.Glob(filepath.Join(fc.dir, "slots.*.lock"))
	if err != nil {
		return fmt.Errorf("jongler: state directory %s: %w", fc.dir, err)
	}
	mine := filepath.Join(fc.dir, "slots."+strconv.Itoa(slots)+".lock")
	for _, p := range others {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "slots."), ".lock"))
		if err != nil || p == mine {
			continue
		}
		probe := newStateLock(p)
		free, err := probe.TryLock()
		if err != nil {
			return refusedLink(p, err)
		}
		if !free {
			return fc.mismatch(n, slots)
		}
		probe.Unlock()
	}
	decl := newStateLock(mine)
	ok, err = decl.TryRLock()
	if err != nil {
		return refusedLink(mine, err)
	}
	if !ok {
		// Only a prober holds it exclusively, for an instant, under
		// slots.lock, which this store holds: not expected.
		return fmt.Errorf("jongler: %s is locked exclusively; try again", mine)
	}
	if err := checkLock(decl); err != nil {
		return err
	}
	fc.slotsDecl = decl
	fc.slots.Store(int64(slots))
	return nil
}

func (fc *fileConnector) mismatch(theirs, mine int) error {
	return fmt.Errorf("jongler: state directory %s is in use with WithMaxInFlight(%d) (by another process or store); this one asks %d: every process sharing a state directory must use the same",
		fc.dir, theirs, mine)
}

// undeclareSlots ends the declaration, when the store is closed.
func (fc *fileConnector) undeclareSlots() {
	fc.slotsMu.Lock()
	defer fc.slotsMu.Unlock()
	if fc.slotsDecl != nil {
		fc.slotsDecl.Unlock()
		fc.slotsDecl = nil
	}
	fc.slots.Store(0)
}
