package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestServeMemoryStore: with --store memory:, serve keeps its key states
// in its own memory: requests are served with the pool's keys, and the
// state directory is left untouched.
func TestServeMemoryStore(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--store", "memory:")
	for range 4 {
		if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), `store="memory (this process only)"`) {
		t.Errorf("serve does not name the memory store:\n%s", p.stderr)
	}
	if got := e.srv.Stats().Counts.Requests; got != 4 {
		t.Errorf("upstream got %d requests, want 4", got)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "state")); !os.IsNotExist(err) {
		t.Errorf("state directory: %v; want none made with the memory store", err)
	}
}
