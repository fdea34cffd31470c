package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A configuration is read from files (the INI file, connector files) that
// someone may have replaced by a FIFO, or that sit on a network file system
// that stopped answering: reading them may block for ever, and no read of
// a file can be cancelled. So no build of the configuration runs on the
// goroutine that handles signals: SIGINT and SIGTERM stop serve whatever a
// build is doing.

// reloadWarnAfter is how long a reload may take before serve says it has
// not ended.
const reloadWarnAfter = 10 * time.Second

// firstBuild runs build on a goroutine of its own and returns what it
// returns or, as soon as ctx ends (SIGINT or SIGTERM), nil and no error,
// having said so to log: a start stuck reading a file can still be
// stopped, as serve is stopped, with exit code 0.
func firstBuild(ctx context.Context, log *slog.Logger, build func() (*served, error)) (*served, error) {
	type result struct {
		s   *served
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := build()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		// The build goes on, blocked; the process exits without it.
		go func() {
			if r := <-done; r.s != nil {
				r.s.close()
			}
		}()
		log.Warn("stopped while reading the configuration (a file that blocks, such as a FIFO?)")
		return nil, nil
	}
}

// reloader runs the reloads SIGHUP asks for, one at a time, each on a
// goroutine of its own, and puts what each builds in cur.
type reloader struct {
	build     func() (*served, error)
	cur       *atomic.Pointer[served]
	log       *slog.Logger
	warnAfter time.Duration

	mu      sync.Mutex
	running bool // a reload has started and not ended
	stopped bool // serve is shutting down: reloads are over
}

// start begins a reload, unless one is running (said, and ignored) or
// reloads are over. It returns at once.
func (r *reloader) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if r.running {
		r.log.Warn("reload ignored: the reload before has not ended (a file that blocks, such as a FIFO?); still serving the configuration before")
		return
	}
	r.running = true
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		next, err := r.build()
		r.end(next, err)
	}()
	go func() {
		t := time.NewTimer(r.warnAfter)
		defer t.Stop()
		select {
		case <-ended:
		case <-t.C:
			r.log.Error("reload has not ended after "+r.warnAfter.String()+" (a file that blocks, such as a FIFO?); still serving the configuration before; SIGHUP is ignored until it ends",
				"after", r.warnAfter.String())
		}
	}()
}

// end puts the configuration a reload built in place, or says why there
// is none; one built after shutdown began is closed.
func (r *reloader) end(next *served, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = false
	switch {
	case r.stopped:
		if next != nil {
			next.close()
		}
	case err != nil:
		r.log.Error("reload failed; still serving the configuration before", "err", message(err))
	default:
		old := r.cur.Swap(next)
		r.log.Info("reloaded", "prefixes", strings.Join(next.h.Prefixes(), " "))
		// Requests in flight finish on the old transports.
		old.close()
	}
}

// stop ends the reloads: a reload still running is abandoned (its
// configuration, should it ever be built, is closed unused).
func (r *reloader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.running {
		r.log.Warn("shutting down with a reload still running; abandoned")
	}
}
