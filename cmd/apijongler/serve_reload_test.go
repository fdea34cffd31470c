package main

import (
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// waitFor waits up to 10 s for buf to hold want.
func waitFor(t *testing.T, buf *lockedBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.String(), want); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 10 s:\n%s", want, buf)
		}
	}
}

// testServed is a configuration serving httpbin.org, which needs no key.
func testServed(t *testing.T) *served {
	t.Helper()
	tr, err := jongler.NewTransport(jongler.ConnectorHTTPBin, jongler.WithStore(jongler.NewMemoryStore()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := proxy.New([]*jongler.Transport{tr})
	if err != nil {
		t.Fatal(err)
	}
	return &served{h: h, transports: []*jongler.Transport{tr}}
}

// TestReloaderOffSignalLoop: a reload runs on a goroutine of its own, so
// start returns at once however long the build blocks; a reload past its
// time is said once; a SIGHUP meanwhile is ignored, said; the late
// configuration is then put in place; after stop, one is not.
func TestReloaderOffSignalLoop(t *testing.T) {
	var log lockedBuffer
	var cur atomic.Pointer[served]
	first := testServed(t)
	cur.Store(first)
	release := make(chan error)
	built := make(chan *served, 2)
	r := &reloader{
		build: func() (*served, error) {
			if err := <-release; err != nil {
				return nil, err
			}
			s := testServed(t)
			built <- s
			return s, nil
		},
		cur:       &cur,
		log:       slog.New(slog.NewTextHandler(&log, nil)),
		warnAfter: 20 * time.Millisecond,
	}

	r.start() // returns at once: the build waits on release
	waitFor(t, &log, "reload has not ended after 20ms")
	r.start()
	waitFor(t, &log, "reload ignored: the reload before has not ended")
	if cur.Load() != first {
		t.Fatal("the configuration changed before the reload ended")
	}
	release <- nil
	second := <-built
	waitFor(t, &log, "msg=reloaded")
	if cur.Load() != second {
		t.Fatal("the late reload was not put in place")
	}

	r.start()
	release <- errors.New("jongler: config file x.ini: line 1: broken")
	waitFor(t, &log, `msg="reload failed; still serving the configuration before" err="config file x.ini: line 1: broken"`)
	if cur.Load() != second {
		t.Fatal("a failed reload changed the configuration")
	}

	r.start()
	r.stop()
	waitFor(t, &log, "shutting down with a reload still running; abandoned")
	release <- nil
	<-built
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		running := r.running
		r.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned reload did not end")
		}
	}
	if cur.Load() != second {
		t.Fatal("a reload ended after stop was put in place")
	}
	r.start() // after stop: nothing
	second.close()
}
