package filestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDrillLockFileDeletedUnderLease: a slot file deleted under a live
// lease is restored from its second name by the next taker, who then finds
// it held: the key is not leased twice.
func TestDrillLockFileDeletedUnderLease(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _ := openStore(t, dir)
	b, logs := openStore(t, dir)
	one := []string{"k1"}
	held, err := a.Acquire(ctx, drillConn, one, 1)
	if err != nil || held == nil {
		t.Fatalf("Acquire: %v, %v", held, err)
	}
	lock := filepath.Join(dir, drillConn, "keys", "k1.0.lock")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if l, err := b.Acquire(ctx, drillConn, one, 1); l != nil || err != nil {
			t.Fatalf("k1 leased by a second store (%v, %v) while the first holds it, its lock file deleted", leaseKey(l), err)
		}
	}
	if !strings.Contains(logs.String(), "lock file was deleted") {
		t.Errorf("no warning about the deleted lock file:\n%s", logs.String())
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("lock file not restored: %v", err)
	}
	// Given back, it is leasable again.
	held.Release(context.Background())
	l, err := b.Acquire(ctx, drillConn, one, 1)
	if err != nil || l == nil {
		t.Fatalf("k1 not leasable once released: %v, %v", l, err)
	}
	l.Release(context.Background())
}
