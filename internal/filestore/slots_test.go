package filestore

import (
	"context"
	"strings"
	"testing"
)

// TestMaxInFlightMismatchRefused: processes sharing a state directory must
// use the same WithMaxInFlight, or one key carries more requests than
// either allows. The second store to ask another count is refused, naming
// both counts, while the first is open; once it is closed the other count
// is allowed. Two stores on one directory hold their own descriptors, as
// two processes do.
func TestMaxInFlightMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, _ := openStore(t, dir)
	b, _ := openStore(t, dir)
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
	c, _ := openStore(t, dir)
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
