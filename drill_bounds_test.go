package jongler_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/gofrs/flock"
)

// Issue 9 §4: bounds and consistency.

// TestUseTableLockHonoursDeadline: while another process (here, another
// open file description, as a stopped process would hold) keeps
// use.table.lock, a request returns at its deadline instead of waiting for
// the lock.
func TestUseTableLockHonoursDeadline(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	dir := t.TempDir()
	conn := filepath.Join(dir, gem)
	if err := os.MkdirAll(conn, 0o700); err != nil {
		t.Fatal(err)
	}
	other := flock.New(filepath.Join(conn, "use.table.lock"))
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	tr := newTransport(t, u, jongler.WithStateDir(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RoundTrip: %v; want the deadline", err)
		}
		if !strings.Contains(err.Error(), "use.table.lock") {
			t.Errorf("error %q does not name the lock waited for", err)
		}
	case <-time.After(20 * time.Second):
		other.Unlock() // let the request go, then fail
		<-done
		t.Fatal("a request with a 300 ms deadline was still waiting for use.table.lock after 20 s")
	}
}

// TestMaxInFlightMismatchRefused: processes sharing a state directory must
// use the same WithMaxInFlight, or one key carries more requests than
// either allows. The second store to ask another count is refused, naming
// both counts, while the first is open; once it is closed the other count
// is allowed. Two stores on one directory hold their own descriptors, as
// two processes do.
func TestMaxInFlightMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, _ := drillStore(t, dir)
	b, _ := drillStore(t, dir)
	la, err := a.Acquire(ctx, drillConn, drillKeys, 1)
	if err != nil || la == nil {
		t.Fatalf("A: %v, %v", la, err)
	}
	la.Release(ctx)
	lb, err := b.Acquire(ctx, drillConn, drillKeys, 2)
	if err == nil {
		lb.Release(ctx)
		t.Fatal("a store leased with 2 slots per key while another uses 1 on the same directory")
	}
	if msg := err.Error(); !strings.Contains(msg, "WithMaxInFlight") || !strings.Contains(msg, "1") || !strings.Contains(msg, "2") || !strings.Contains(msg, dir) {
		t.Errorf("error %q: want one naming the directory, both counts and WithMaxInFlight", msg)
	}
	// The same count is fine, and so is the other count once A is closed.
	c, _ := drillStore(t, dir)
	if l, err := c.Acquire(ctx, drillConn, drillKeys, 1); err != nil || l == nil {
		t.Fatalf("same count: %v, %v", l, err)
	} else {
		l.Release(ctx)
	}
	c.Close()
	// One store asked for two counts: refused too.
	if _, err := a.Acquire(ctx, drillConn, drillKeys, 3); err == nil || !strings.Contains(err.Error(), "WithMaxInFlight") {
		t.Errorf("one store, two counts: %v", err)
	}
	a.Close()
	lb, err = b.Acquire(ctx, drillConn, drillKeys, 2)
	if err != nil || lb == nil {
		t.Fatalf("after the other count's stores closed: %v, %v", lb, err)
	}
	lb.Release(ctx)
	b.Close()
}

// TestStateDirDeletedUnderLease: the whole state directory is deleted
// while a store holds a lease. At its next lease the store finds its keys
// directory gone (its device and inode recorded at open), warns, makes the
// directory again and takes again the slot it holds: another store (a
// process) cannot lease that key from the new directory until the lease
// ends.
func TestStateDirDeletedUnderLease(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, logs := drillStore(t, dir)
	held, err := a.Acquire(ctx, drillConn, []string{"k1"}, 1)
	if err != nil || held == nil {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// A's next lease, of another key, finds the directory gone.
	l2, err := a.Acquire(ctx, drillConn, []string{"k2"}, 1)
	if err != nil || l2 == nil {
		t.Fatalf("lease after the deletion: %v, %v", l2, err)
	}
	defer l2.Release(ctx)
	if !strings.Contains(logs.String(), "deleted or replaced") || !strings.Contains(logs.String(), dir) {
		t.Errorf("no warning naming the directory:\n%s", logs)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory not made again with mode 0700: %v %v", fi, err)
	}
	b, _ := drillStore(t, dir)
	if l, err := b.Acquire(ctx, drillConn, []string{"k1"}, 1); err != nil || l != nil {
		if l != nil {
			l.Release(ctx)
		}
		t.Fatalf("another store leased k1 (%v, %v) while A still holds it: the deletion doubled the lease", l, err)
	}
	held.Release(ctx)
	l, err := b.Acquire(ctx, drillConn, []string{"k1"}, 1)
	if err != nil || l == nil {
		t.Fatalf("k1 after A released it: %v, %v", l, err)
	}
	l.Release(ctx)
	a.Close()
	b.Close()
}
