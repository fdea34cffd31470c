package state

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// Unwritten is what a process could not write to its store (a full disk,
// a read-only one, a store down): the records and backoff are kept in
// memory, honoured by the process's leases (see Over) and folded into the
// next write that succeeds (see Pending). It remembers the kind of failure
// last warned about, so that a full disk is warned about once, not at
// every answer. The zero value holds nothing. An Unwritten is safe for
// concurrent use.
type Unwritten struct {
	mu      sync.Mutex
	st      State // records and backoff not written; zero if none
	gen     int   // counts the changes to st
	failing string
	// held says st holds records or a backoff: read without mu, so that
	// a process that writes fine pays nothing for it.
	held atomic.Bool
}

// Pending returns a copy of what is kept, to fold into a write (see
// State.Fold), and its generation, for Written.
func (u *Unwritten) Pending() (State, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st.Clone(), u.gen
}

// Written says that a write holding what Pending returned with generation
// gen succeeded: what is kept is dropped, unless it changed since. It
// reports whether writes were failing until then.
func (u *Unwritten) Written(gen int) (recovered bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gen == gen {
		u.st = State{} // all of it written
		u.held.Store(false)
	}
	recovered = u.failing != ""
	u.failing = ""
	return recovered
}

// Keep applies fn to what is kept, since a write failed. failure is the
// write's error, or nil when it is not to be warned about (the request
// ended before the write); Keep reports whether it is a new kind of
// failure, to warn about.
func (u *Unwritten) Keep(fn func(*State) error, failure error) (warn bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_ = fn(&u.st)
	u.gen++
	u.held.Store(len(u.st.Records) > 0 || !u.st.Backoff.IsZero())
	if failure == nil {
		return false
	}
	c := condition(failure)
	if c == u.failing {
		return false
	}
	u.failing = c
	return true
}

// Over returns st with what is kept added, and the generation of what is
// kept; st itself is not modified. With nothing kept, it returns st and
// 0, whatever was kept before: the generation only tells whether what is
// kept changed.
func (u *Unwritten) Over(st *State) (*State, int) {
	if !u.held.Load() {
		return st, 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.st.Records) == 0 && u.st.Backoff.IsZero() {
		return st, u.gen
	}
	out := *st
	out.Records = slices.Clone(st.Records)
	out.Fold(u.st)
	return &out, u.gen
}

// condition names the kind of a write error, so that the same failure
// (ENOSPC, EROFS, ...) is told apart from a new one whatever file it names.
func condition(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}
