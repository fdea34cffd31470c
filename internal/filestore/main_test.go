package filestore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/testmain"
)

// roleEnv names what a child process of a test is to do.
const roleEnv = "JONGLER_FILESTORE_TEST_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		// A child of a drill: killed mid-flight by design.
		os.Exit(m.Run())
	}
	testmain.Main(m)
}

// drillConn is the connector of the drills, drillKeys its keys.
const drillConn = "drill.example"

var drillKeys = []string{"k1", "k2", "k3"}

// openStore opens a store on dir whose warnings go to the returned buffer.
func openStore(t *testing.T, dir string) (*Store, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s, err := New(dir, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &logs
}

// leaseKey names the key of l, which may be nil.
func leaseKey(l *Lease) string {
	if l == nil {
		return "nothing"
	}
	return l.Key()
}

// exclusive checks that two stores on one directory never lease one key
// at once: a takes every key, b must get none; then, all given back, b
// gets one.
func exclusive(t *testing.T, a, b *Store) {
	t.Helper()
	var held []*Lease
	for range drillKeys {
		if l := acquireWithin(t, a, drillKeys, 0); l != nil {
			held = append(held, l)
		}
	}
	if len(held) == 0 {
		t.Fatal("no key leasable at all")
	}
	if l := acquireWithin(t, b, drillKeys, 0); l != nil {
		t.Fatalf("a second store leased %s while the first held every key", l.Key())
	}
	for _, l := range held {
		l.Release(context.Background())
	}
	l := acquireWithin(t, b, drillKeys, 3*DeadHolderRest)
	if l == nil {
		t.Fatal("no key leasable after the first store released them all")
	}
	l.Release(context.Background())
}

// acquireWithin leases one of keys of drillConn from s, trying again until
// d has passed; nil if none could be had.
func acquireWithin(t *testing.T, s *Store, keys []string, d time.Duration) *Lease {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l, err := s.Acquire(context.Background(), drillConn, keys, 1)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if l != nil || time.Now().After(deadline) {
			return l
		}
		time.Sleep(time.Millisecond)
	}
}
