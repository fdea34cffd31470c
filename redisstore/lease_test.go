package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/redis/go-redis/v9"
)

var prefixSeq atomic.Int64

// newTestStore returns a store with a fresh key prefix on srv.
func newTestStore(t *testing.T, c redis.UniversalClient, opts ...Option) *Store {
	t.Helper()
	p := fmt.Sprintf("t%d-%d:", time.Now().UnixNano(), prefixSeq.Add(1))
	return New(c, append([]Option{WithPrefix(p), WithRestartQuiet(0)}, opts...)...)
}

func mustLease(t *testing.T, s *Store, keys ...string) *lease {
	t.Helper()
	l, err := s.Acquire(t.Context(), "c", keys, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l == nil {
		return nil
	}
	return l.(*lease)
}

// freeze stops a lease's watchdog without releasing it, as if its holder
// had died or paused.
func freeze(l *lease) {
	l.stopWatch()
}

func TestLeaseLapsesWithoutRenewal(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ttl := 300 * time.Millisecond
	s := newTestStore(t, c, WithTTL(ttl))
	l := mustLease(t, s, "k")
	if l == nil {
		t.Fatal("no lease")
	}
	freeze(l) // the holder dies
	if again := mustLease(t, s, "k"); again != nil {
		t.Fatal("a key leased twice while its lease is in force")
	}
	// Within the TTL (on the server's clock) it is free again.
	deadline := time.Now().Add(10 * ttl)
	var l2 *lease
	for l2 == nil && time.Now().Before(deadline) {
		time.Sleep(ttl / 10)
		l2 = mustLease(t, s, "k")
	}
	if l2 == nil {
		t.Fatal("the key of a dead holder never came back")
	}
	defer l2.Release(t.Context())
	if l2.token <= l.token {
		t.Fatalf("fencing token %d after %d: want it larger", l2.token, l.token)
	}
	// The stale holder's release is refused and frees nothing.
	if err := l.Release(t.Context()); !errors.Is(err, ErrLeaseLapsed) {
		t.Fatalf("stale release: %v; want ErrLeaseLapsed", err)
	}
	if n, _ := s.InFlight(t.Context(), "c", []string{"k"}, 1); n["k"] != 1 {
		t.Fatalf("in flight after a stale release: %v; want the new holder's 1", n)
	}
	// A stale renewal is refused.
	ok, err := l.renew(t.Context(), time.Now())
	if err != nil || ok {
		t.Fatalf("stale renewal: %v %v; want refused", ok, err)
	}
}

func TestLeaseRenewedWhileHeld(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ttl := 300 * time.Millisecond
	s := newTestStore(t, c, WithTTL(ttl))
	l := mustLease(t, s, "k")
	// Held for several TTLs: the watchdog keeps it.
	for range 6 {
		time.Sleep(ttl / 2)
		if other := mustLease(t, s, "k"); other != nil {
			t.Fatal("a renewed lease was granted again")
		}
		select {
		case <-l.Lost():
			t.Fatal("a renewed lease was reported lost")
		default:
		}
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if l2 := mustLease(t, s, "k"); l2 == nil {
		t.Fatal("not leasable after release")
	} else {
		l2.Release(t.Context())
	}
}

func TestLeaseLostWhenRedisIsGone(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ttl := 300 * time.Millisecond
	s := newTestStore(t, c, WithTTL(ttl))
	l := mustLease(t, s, "k")
	srv.Kill()
	select {
	case <-l.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a lease Redis could not renew was never reported lost")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := l.Release(ctx)
	if err == nil || !strings.Contains(err.Error(), "redisstore: redis at "+srv.Addr) {
		t.Fatalf("release with Redis down: %v; want an error naming the store", err)
	}
	_, err = s.Acquire(ctx, "c", []string{"k"}, 1)
	if err == nil || !strings.Contains(err.Error(), "redisstore: redis at "+srv.Addr) {
		t.Fatalf("acquire with Redis down: %v; want an error naming the store", err)
	}
}

// TestRestartQuiet: a Redis that lost its data (restarted without
// persistence) grants no lease until it has been up one TTL. By then every
// lease granted before the restart has lapsed where its holder counts it
// (the TTL after its last renewal, which came before the crash), so no
// lease is held twice; the holder learns its lease is lost.
func TestRestartQuiet(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	const ttl = time.Second
	ctx := t.Context()
	// The server is new: its first lease waits until it is up one TTL.
	s := New(c, WithPrefix(fmt.Sprintf("quiet%d:", time.Now().UnixNano())), WithTTL(ttl))
	var held *lease
	for held == nil {
		held = mustLease(t, s, "k")
		time.Sleep(20 * time.Millisecond)
	}
	srv.Kill()
	srv.Restart()
	var again *lease
	for again == nil {
		l, err := s.Acquire(ctx, "c", []string{"k"}, 1)
		if err != nil {
			continue // the pooled connections died with the server
		}
		if l != nil {
			again = l.(*lease)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	regranted := time.Now()
	defer again.Release(ctx)
	held.mu.Lock()
	expiry := held.expiry
	held.mu.Unlock()
	if regranted.Before(expiry) {
		t.Errorf("the key was leased again %v before the lease from before the restart lapsed for its holder", expiry.Sub(regranted))
	}
	select {
	case <-held.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the holder from before the restart was never told its lease is lost")
	}
	if err := held.Release(ctx); !errors.Is(err, ErrLeaseLapsed) {
		t.Errorf("release of the lease from before the restart: %v; want ErrLeaseLapsed", err)
	}
	if again.token <= held.token {
		t.Errorf("fencing token %d after the restart, %d before: want it larger", again.token, held.token)
	}
}
