package filestore

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestStateDirDeletedUnderLease: the whole state directory is deleted
// while a store holds a lease. At its next lease the store finds its keys
// directory gone (its device and inode recorded at open), warns, makes the
// directory again and takes again the slot it holds: another store (a
// process) cannot lease that key from the new directory until the lease
// ends.
func TestStateDirDeletedUnderLease(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, logs := openStore(t, dir)
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
	b, _ := openStore(t, dir)
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
