package jongler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// unwritten is what a keyring could not write to its store (a full disk, a
// read-only one, a store down): the verdicts are kept in this process's
// memory and honoured by its leases, and folded into the next write that
// succeeds; failing is the condition last warned about, so that a full
// disk is warned about once, not at every answer.
type unwritten struct {
	mu      sync.Mutex
	st      state // records and backoff not written; zero if none
	gen     int   // counts the changes to st
	failing string
	// held says st holds records or a backoff: read without mu, so that
	// a keyring that writes fine pays nothing for it.
	held atomic.Bool
}

// record applies fn to the connector's state in the store and, if the
// store cannot be written, to the state kept in memory instead. It warns
// once per condition and reports nothing to the caller: the verdict holds
// either way.
func (r *keyring) record(ctx context.Context, fn func(*state) error) {
	u := &r.unwritten
	u.mu.Lock()
	mem, gen := cloneState(u.st), u.gen
	u.mu.Unlock()
	err := r.update(ctx, func(st *state) error {
		foldState(st, mem)
		return fn(st)
	})
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		if u.gen == gen {
			u.st = state{} // all of it written
			u.held.Store(false)
		}
		if u.failing != "" {
			r.logger.Info("jongler: key states are written again", "connector", r.connector)
			u.failing = ""
		}
		return
	}
	_ = fn(&u.st)
	u.gen++
	u.held.Store(len(u.st.Records) > 0 || !u.st.Backoff.IsZero())
	if ctx.Err() != nil {
		r.logger.Debug("jongler: key state kept in memory: the request ended before it was written", "connector", r.connector, "err", err)
		return
	}
	if c := condition(err); c != u.failing {
		u.failing = c
		r.logger.Warn("jongler: cannot write key states; this process keeps them in memory and honours them until a write succeeds (other processes do not see them)",
			"connector", r.connector, "err", err)
	}
}

// withUnwritten returns st with the verdicts kept in memory added; st
// itself is not modified.
func (r *keyring) withUnwritten(st *state) *state {
	out, _ := r.withUnwrittenGen(st)
	return out
}

// withUnwrittenGen is withUnwritten, with the generation of the verdicts
// kept in memory.
func (r *keyring) withUnwrittenGen(st *state) (*state, int) {
	u := &r.unwritten
	if !u.held.Load() {
		// Nothing kept in memory: the generation, which only says whether
		// what is kept changed, is 0 for any list made meanwhile.
		return st, 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.st.Records) == 0 && u.st.Backoff.IsZero() {
		return st, u.gen
	}
	out := *st
	out.Records = slices.Clone(st.Records)
	foldState(&out, u.st)
	return &out, u.gen
}

// foldState adds mem's records and backoff to st.
func foldState(st *state, mem state) {
	for _, rec := range mem.Records {
		st.setRecord(rec)
	}
	st.Backoff = maxTime(st.Backoff, mem.Backoff)
}

func cloneState(st state) state {
	st.Records = slices.Clone(st.Records)
	st.Usage = slices.Clone(st.Usage)
	st.Throttles = slices.Clone(st.Throttles)
	return st
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
