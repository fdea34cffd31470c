package main

import (
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestServeReloadRenamedKeyHeld: a SIGHUP that renames a key while a
// stream holds it under its old name does not let the new name serve a
// second request at once: the request under the new name waits until the
// stream ends, then is served with the key.
func TestServeReloadRenamedKeyHeld(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{StreamChunks: 4, StreamGap: 250 * time.Millisecond}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0")
	br := startStream(t, p.url)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	renamed := []jonglertest.Key{{Label: "renamed", Value: e.keys[0].Value}}
	e.writeINI(renamed)
	p.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(p.stderr.String(), "msg=reloaded") {
		select {
		case <-p.done:
			t.Fatalf("serve exited on SIGHUP:\n%s", p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(br)
		rest <- string(b)
	}()
	if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
		t.Fatalf("the request under the new name: %d %s", code, body)
	}
	if got := <-rest; strings.Count(got, "data: ") != 3 {
		t.Fatalf("the stream under the old name was not served to its end across the rename:\n%s", got)
	}
	p.stop(t, syscall.SIGTERM)
	st := e.srv.Stats()
	k := st.Keys[e.keys[0].Label]
	if st.Overlaps != 0 || k.MaxInFlight > 1 {
		t.Fatalf("the key served two requests at once across the rename: overlaps %d, most in flight %d", st.Overlaps, k.MaxInFlight)
	}
	if k.Successes != 2 {
		t.Fatalf("upstream %+v, want the stream and the request served", k.Counts)
	}
}
