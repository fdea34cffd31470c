package redisstore_test

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
	"github.com/api-jongler/jongler/storetest"
)

var prefixes atomic.Int64

// freshPrefix returns a key prefix no other test uses.
func freshPrefix() string {
	return fmt.Sprintf("test%d-%d:", time.Now().UnixNano(), prefixes.Add(1))
}

// TestStoreConformance holds the Redis store to the contract every store
// keeps, on a real redis-server.
func TestStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	storetest.TestStore(t, func(t *testing.T) jongler.Store {
		// A fresh prefix is a fresh connector: no restart quiet for it,
		// since no lease can predate it.
		return redisstore.New(client, redisstore.WithPrefix(freshPrefix()), redisstore.WithRestartQuiet(0))
	})
}

// TestStoreShared holds two clients with one prefix, as two machines, to
// the rules between handles on one store.
func TestStoreShared(t *testing.T) {
	srv := redistest.Start(t)
	storetest.TestShared(t, func(t *testing.T) (jongler.Store, jongler.Store) {
		prefix := freshPrefix()
		return redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0)),
			redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))
	})
}

// TestLoadSeesOtherWriters: a store sees its own writes at once, another
// client's within the state's max age, and after a lease at once (the
// lease's reply names the current version).
func TestLoadSeesOtherWriters(t *testing.T) {
	srv := redistest.Start(t)
	prefix := freshPrefix()
	const maxAge = 200 * time.Millisecond
	a := redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0), redisstore.WithStateMaxAge(maxAge))
	b := redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0), redisstore.WithStateMaxAge(maxAge))
	ctx := t.Context()
	write := func(s *redisstore.Store, v string) {
		t.Helper()
		if err := s.Update(ctx, "c", func([]byte) ([]byte, error) { return []byte(v), nil }); err != nil {
			t.Fatal(err)
		}
	}
	load := func(s *redisstore.Store) string {
		t.Helper()
		got, err := s.Load(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	write(a, "one")
	if got := load(a); got != "one" {
		t.Fatalf("a's own write: %q", got)
	}
	if got := load(b); got != "one" {
		t.Fatalf("b's first load: %q", got)
	}
	write(a, "two")
	// b's copy is fresh for maxAge at most...
	time.Sleep(maxAge + 50*time.Millisecond)
	if got := load(b); got != "two" {
		t.Fatalf("b's load past the max age: %q, want two", got)
	}
	// ...and a lease's reply tells b at once that the state changed.
	write(a, "three")
	l, err := b.Acquire(ctx, "c", []string{"k"}, 1)
	if err != nil || l == nil {
		t.Fatalf("acquire: %v %v", l, err)
	}
	defer l.Release(ctx)
	if got := load(b); got != "three" {
		t.Fatalf("b's load after a lease: %q, want three", got)
	}
}

// TestScriptsFlushed: a server that forgot the scripts (SCRIPT FLUSH, a
// restart, a failover) gets them again by EVAL, unnoticed by callers.
func TestScriptsFlushed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s := redisstore.New(c, redisstore.WithPrefix(freshPrefix()), redisstore.WithRestartQuiet(0))
	ctx := t.Context()
	for i := range 3 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		l, err := s.Acquire(ctx, "c", []string{"k"}, 1)
		if err != nil || l == nil {
			t.Fatalf("round %d: acquire after SCRIPT FLUSH: %v %v", i, l, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InFlight(ctx, "c", []string{"k"}, 1); err != nil {
			t.Fatalf("round %d: in flight after SCRIPT FLUSH: %v", i, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, "c"); err != nil {
			t.Fatalf("round %d: load after SCRIPT FLUSH: %v", i, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("round %d: release after SCRIPT FLUSH: %v", i, err)
		}
	}
}

// TestBudgetCountersExpire: a budget counter is a key under the
// connector's hash tag that expires when its window ends, or a window's
// length from now when the window (on a simulated clock) ended already.
func TestBudgetCountersExpire(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	prefix := freshPrefix()
	s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))
	ctx := t.Context()
	now := time.Now()
	for _, tc := range []struct {
		name       string
		start, end time.Time
	}{
		{"minute/p/m", now.Add(-10 * time.Second), now.Add(50 * time.Second)},
		{"day/p/m", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)}, // a simulated past
	} {
		counts, ok, err := s.SpendBudget(ctx, "conn", 1, []jongler.BudgetCounter{{Name: tc.name, Start: tc.start, End: tc.end, Limit: 2}})
		if err != nil || !ok || counts[0] != 1 {
			t.Fatalf("%s: %v %v %v", tc.name, counts, ok, err)
		}
		key := prefix + "{conn}:budget:" + tc.name + ":" + strconv.FormatInt(tc.start.UnixMilli(), 10)
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := tc.end.Sub(now)
		if want <= 0 {
			want = tc.end.Sub(tc.start)
		}
		if ttl <= 0 || ttl > want+time.Second || ttl < want-5*time.Second {
			t.Fatalf("%s: %s expires in %v, want about %v", tc.name, key, ttl, want)
		}
	}
}

// TestBudgetCounterDamaged: a counter written over in Redis (negative, or
// not a number) never lets a spend past its limit, and a spend refused or
// failed adds to no counter of the set (all or nothing).
func TestBudgetCounterDamaged(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	now := time.Now()
	for _, planted := range []string{"-1000", "garbage", "1e30", "99999999999999999999999"} {
		prefix := freshPrefix()
		s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))
		cs := []jongler.BudgetCounter{
			{Name: "day/p/m", Start: now.Add(-time.Hour), End: now.Add(time.Hour), Limit: 100},
			{Name: "minute/p/m", Start: now.Add(-time.Second), End: now.Add(time.Minute), Limit: 3},
		}
		key := func(i int) string {
			return prefix + "{conn}:budget:" + cs[i].Name + ":" + strconv.FormatInt(cs[i].Start.UnixMilli(), 10)
		}
		if err := c.Set(ctx, key(1), planted, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		spent := 0
		for range 10 {
			_, ok, err := s.SpendBudget(ctx, "conn", 1, cs)
			if err != nil {
				t.Fatalf("%s planted: %v", planted, err)
			}
			if ok {
				spent++
			}
		}
		if spent > 3 {
			t.Errorf("%s planted: %d spends through a limit of 3", planted, spent)
		}
		day, _ := c.Get(ctx, key(0)).Int()
		if day != spent {
			t.Errorf("%s planted: the day counts %d, %d spends went through", planted, day, spent)
		}
	}
}
