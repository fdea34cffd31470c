//go:build linux

package filestore

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestFileStoresDoNotPileUpMappings: each file store maps its connectors'
// use tables; a store dropped must give its mappings back.
func TestFileStoresDoNotPileUpMappings(t *testing.T) {
	count := func() int {
		data, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Skip("no /proc/self/maps")
		}
		return strings.Count(string(data), "use.table")
	}
	dir := t.TempDir()
	before := count()
	for range 50 {
		s, err := New(dir, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Acquire(context.Background(), "c", []string{"k"}, 1)
		if err != nil || l == nil {
			t.Fatalf("Acquire: %v %v", l, err)
		}
		l.Release(context.Background())
	}
	deadline := time.Now().Add(5 * time.Second)
	for count()-before > 5 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := count() - before; n > 5 {
		t.Fatalf("%d use.table mappings left after 50 stores were dropped", n)
	}
}
