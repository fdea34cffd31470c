package jongler

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// waitQueue holds this process's requests waiting for a key, in the order
// they came. A release wakes the first one only, not every one: with many
// requests per key, waking all of them had each ask the store again for
// one key, and all but one go back to waiting, at a cost that grew with
// the number waiting. A request woken that finds no key (one that came
// meanwhile took it, or the key freed is not one it may use) wakes the
// next, once (maxWakeHops); past that, a vacant key waits for a waiter's
// poll (1 to 40 ms).
type waitQueue struct {
	n  atomic.Int64 // waiters queued, read without the lock
	mu sync.Mutex
	l  list.List // of *waiter
}

// maxWakeHops bounds how many times a wake is passed on: a request that
// came meanwhile and took the key would otherwise have the wake go round
// every waiter, each asking the store in vain.
const maxWakeHops = 1

// waiter is one request in the queue.
type waiter struct {
	wake   chan int // the wake's hops so far; sent once, when taken off
	el     *list.Element
	queued bool // in l; guarded by waitQueue.mu
}

// push queues a new waiter.
func (q *waitQueue) push() *waiter {
	w := &waiter{wake: make(chan int, 1)}
	q.mu.Lock()
	w.el, w.queued = q.l.PushBack(w), true
	q.n.Add(1)
	q.mu.Unlock()
	return w
}

// leave takes w off the queue, unless a wake took it off first: then it
// returns the wake's hops and true.
func (q *waitQueue) leave(w *waiter) (hops int, woken bool) {
	q.mu.Lock()
	if w.queued {
		q.l.Remove(w.el)
		w.queued = false
		q.n.Add(-1)
		q.mu.Unlock()
		return 0, false
	}
	q.mu.Unlock()
	return <-w.wake, true // sent, or about to be, by wakeOne
}

// wakeOne wakes the first waiter, with hops the times the wake was
// passed on before; none past maxWakeHops.
func (q *waitQueue) wakeOne(hops int) {
	if q.n.Load() == 0 {
		return
	}
	q.mu.Lock()
	e := q.l.Front()
	if e == nil || hops > maxWakeHops {
		q.mu.Unlock()
		return
	}
	w := q.l.Remove(e).(*waiter)
	w.queued = false
	q.n.Add(-1)
	q.mu.Unlock()
	w.wake <- hops
}

// waitRelease waits for a release of this process's leases after the
// count seen, for at most d, or for ctx to end. woken says a release woke
// it, hops how many requests that wake was passed on by before.
func (r *keyring) waitRelease(ctx context.Context, seen uint64, d time.Duration) (hops int, woken bool, err error) {
	w := r.waits.push()
	if r.releases.Load() != seen {
		// Released since the store was asked: ask again.
		hops, woken = r.waits.leave(w)
		return hops, woken, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case hops := <-w.wake:
		return hops, true, nil
	case <-t.C:
	case <-ctx.Done():
	}
	hops, woken = r.waits.leave(w)
	if err := ctx.Err(); err != nil {
		if woken {
			r.waits.wakeOne(hops) // this request goes: the next may take the key
		}
		return 0, false, err
	}
	return hops, woken, nil
}
