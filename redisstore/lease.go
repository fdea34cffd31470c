package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLeaseLapsed is returned by Release when the lease had lapsed before
// (its TTL passed without renewal): the key may have served another
// request meanwhile.
var ErrLeaseLapsed = errors.New("redisstore: lease lapsed before release (TTL passed without renewal)")

// lease is a slot of a key leased in Redis, renewed by a watchdog
// goroutine every third of the TTL until released.
type lease struct {
	store     *Store
	connector string
	key       string
	token     int64
	member    string // "token:key" in the leases sorted set

	lost chan struct{} // closed when the store can no longer vouch for the lease
	stop chan struct{} // closed by Release
	done chan struct{} // closed when the watchdog has returned

	mu     sync.Mutex
	expiry time.Time // local monotonic instant by which the server lets the lease lapse, at the latest

	stopOnce   sync.Once
	once       sync.Once
	releaseErr error
}

// stopWatch stops the watchdog and waits until it has returned.
func (l *lease) stopWatch() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Key implements jongler.Lease.
func (l *lease) Key() string { return l.key }

// Token returns the lease's fencing token: every lease of a connector has a
// larger token than the ones granted before it, across every client.
func (l *lease) Token() int64 { return l.token }

// Lost implements jongler.Lease: it is closed when the lease lapsed before
// Release, because renewals were refused or Redis could not be reached
// until the TTL passed.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// watch renews the lease every third of the TTL until Release, and closes
// lost as soon as the lease's TTL has passed since the last renewal that
// succeeded, or a renewal is refused.
func (l *lease) watch() {
	defer close(l.done)
	ttl := l.store.ttl
	every := ttl / 3
	retry := max(ttl/20, 10*time.Millisecond)
	next := time.Now().Add(every)
	for {
		l.mu.Lock()
		expiry := l.expiry
		l.mu.Unlock()
		wake := min(time.Until(next), time.Until(expiry))
		t := time.NewTimer(max(wake, 0))
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
		// Checked first: after a pause (SIGSTOP, GC) both timers are late,
		// and the lease is known lost without asking.
		if !time.Now().Before(expiry) {
			close(l.lost)
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), expiry)
		sent := time.Now()
		ok, err := l.renew(ctx, sent)
		cancel()
		switch {
		case err == nil && ok:
			l.mu.Lock()
			l.expiry = sent.Add(ttl)
			l.mu.Unlock()
			next = sent.Add(every)
		case err == nil:
			// Refused: the lease lapsed on the server.
			close(l.lost)
			return
		default:
			// Redis unreachable: try again soon, until the TTL passes.
			next = time.Now().Add(retry)
		}
	}
}

func (l *lease) renew(ctx context.Context, sent time.Time) (bool, error) {
	s := l.store
	res, err := renewScript.Run(ctx, s.client, []string{
		s.key(l.connector, "leases"), s.key(l.connector, "inflight"), s.key(l.connector, "ver"),
	}, l.member, s.ttl.Milliseconds()).Slice()
	if err != nil {
		return false, err
	}
	if len(res) != 4 {
		return false, fmt.Errorf("unexpected reply %v", res)
	}
	s.sync(l.connector, sent, res[1], res[2], res[3])
	return toInt(res[0]) == 1, nil
}

// Release implements jongler.Lease in one round trip. Releasing twice is
// harmless. A lease that had lapsed is released too (its slot was counted
// until then), and the error says it had lapsed.
func (l *lease) Release(ctx context.Context) error {
	l.once.Do(func() {
		l.stopWatch()
		s := l.store
		sent := time.Now()
		res, err := releaseScript.Run(ctx, s.client, []string{
			s.key(l.connector, "leases"), s.key(l.connector, "inflight"), s.key(l.connector, "ver"),
		}, l.member, l.key).Slice()
		if err != nil {
			// The lease lapses by itself within the TTL.
			l.releaseErr = s.fail(ctx, "release lease of key "+l.key, l.connector, err)
			return
		}
		if len(res) != 4 {
			l.releaseErr = s.fail(ctx, "release lease of key "+l.key, l.connector, fmt.Errorf("unexpected reply %v", res))
			return
		}
		s.sync(l.connector, sent, res[1], res[2], res[3])
		if toInt(res[0]) != 1 {
			l.releaseErr = fmt.Errorf("%w: key %s of connector %s", ErrLeaseLapsed, l.key, l.connector)
		}
	})
	return l.releaseErr
}
