package jonglertest_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// Close ends delayed answers and streams at once, and leaves no goroutine
// behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:         keys("p", "a", "b", "c"),
		Models:       unlimited(),
		StreamChunks: 3,
		StreamGap:    time.Hour,
		Faults:       jonglertest.Faults{SlowBy: time.Hour},
	})
	var wg sync.WaitGroup
	wg.Go(func() { // a stream stuck between two chunks
		post(t, srv, "/v1beta/models/"+flash+":streamGenerateContent?alt=sse", okRequest, "x-goog-api-key", "value-a")
	})
	waitFor(t, "the stream", func() bool { return srv.Stats().Keys["a"].InFlight == 1 })
	srv.InjectFaults(jonglertest.FaultSlow, 1)
	wg.Go(func() { // a very slow answer
		post(t, srv, "/v1beta/models/"+flash+":generateContent", okRequest, "x-goog-api-key", "value-b")
	})
	waitFor(t, "the slow answer", func() bool { return srv.Stats().Keys["b"].InFlight == 1 })
	srv.InjectFaults(jonglertest.FaultReset, 1)
	gen(t, srv, "value-c", flash)
	gen(t, srv, "value-c", flash)

	t0 := time.Now()
	srv.Close()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	wg.Wait()
	srv.Close() // idempotent
	st := srv.Stats()
	if st.Canceled != 2 || st.Successes != 1 || st.Failed != 1 {
		t.Errorf("counts %+v, want 2 canceled, 1 success, 1 failed", st.Counts)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Many clients with many keys at once: the counters add up, and no key is
// ever seen in flight twice when each client owns its key.
func TestConcurrentClientsOnOwnHandler(t *testing.T) {
	const clients, perClient = 8, 25
	var ks []jonglertest.Key
	for i := range clients {
		ks = append(ks, jonglertest.Key{Label: fmt.Sprint("k", i), Value: fmt.Sprint("value-k", i), Project: fmt.Sprint("p", i%3)})
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   ks,
		Models: map[string]jonglertest.Quota{flash: {RPM: 30, RPD: 1000}},
		Start:  noon,
		Faults: jonglertest.Faults{Overloaded: jonglertest.Fault{Rate: 0.1}},
	})
	defer srv.Close()
	own := httptest.NewServer(srv.Handler()) // mounted elsewhere, same state
	defer own.Close()

	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for range perClient {
				req, _ := http.NewRequest(http.MethodPost, own.URL+"/v1beta/models/"+flash+":generateContent", strings.NewReader(okRequest))
				req.Header.Set("x-goog-api-key", fmt.Sprint("value-k", i))
				resp, err := own.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	st := srv.Stats()
	if st.Requests != clients*perClient || st.Successes+st.RateLimited+st.Failed != st.Requests {
		t.Errorf("counts %+v", st.Counts)
	}
	if st.Successes > 3*30 || st.Overlaps != 0 {
		t.Errorf("%d successes for 3 projects of 30 RPM, %d overlaps", st.Successes, st.Overlaps)
	}
	sum := 0
	for _, k := range st.Keys {
		sum += k.Requests
	}
	if sum != st.Requests || st.Faults[jonglertest.FaultOverloaded] != st.Failed {
		t.Errorf("per-key requests %d of %d; faults %v for %d failures", sum, st.Requests, st.Faults, st.Failed)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := jonglertest.NewServer(jonglertest.Config{Start: start, Minute: 6 * time.Millisecond}) // ×10000
	defer srv.Close()
	c := srv.Clock()
	if got := c.ToWall(time.Minute); got != 6*time.Millisecond {
		t.Errorf("ToWall(1m) = %v", got)
	}
	if got := c.ToSimulated(6 * time.Millisecond); got != time.Minute {
		t.Errorf("ToSimulated(6ms) = %v", got)
	}
	if got := c.ToWall(1); got != 1 {
		t.Errorf("ToWall(1ns) = %v, want it rounded up to 1ns", got)
	}
	if got := c.ToSimulated(1000 * time.Hour); got != math.MaxInt64 {
		t.Errorf("ToSimulated(1000h) = %v, want saturation, not overflow", got)
	}
	t0 := c.Now()
	if t0.Before(start) || t0.Location() != time.UTC {
		t.Errorf("Now() = %v", t0)
	}
	if err := c.Sleep(context.Background(), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := srv.Now().Sub(t0); d < 5*time.Minute {
		t.Errorf("slept %v of simulated time, want 5m", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with a canceled context: %v", err)
	}
}

// A clock rebuilt from one reading of a server's, as another process of a
// test rebuilds it, tells the server's time and sleeps as long.
func TestNewClock(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	const minute = 60 * time.Millisecond // ×1000
	srv := jonglertest.NewServer(jonglertest.Config{Start: time.Date(2030, 1, 2, 3, 4, 5, 0, la), Minute: minute})
	defer srv.Close()
	sim, wall := srv.Clock().Now(), time.Now()
	// As passed to another process: Unix nanoseconds, no monotonic reading.
	c := jonglertest.NewClock(sim, time.Unix(0, wall.UnixNano()), minute)
	time.Sleep(3 * time.Millisecond)
	got, want := c.Now(), srv.Now()
	if d := want.Sub(got).Abs(); d > srv.Clock().ToSimulated(50*time.Millisecond) || got.Location() != la {
		t.Errorf("rebuilt clock: %v, server's %v: %v apart, want the same time in the same location", got, want, d)
	}
	begin := time.Now()
	if err := c.Sleep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < minute {
		t.Errorf("Sleep(1m) took %v of wall time, want %v", took, minute)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewClock with a zero minute did not panic")
		}
	}()
	jonglertest.NewClock(sim, wall, 0)
}

// The handler works when mounted on an HTTP/2 server, where it cannot
// hijack connections: a reset becomes a stream reset.
func TestHandlerOverHTTP2(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited()})
	defer srv.Close()
	h2 := httptest.NewUnstartedServer(srv.Handler())
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	send := func(path string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, h2.URL+"/v1beta/models/"+flash+path, strings.NewReader(okRequest))
		req.Header.Set("x-goog-api-key", "value-k")
		resp, err := h2.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, body, err := send(":streamGenerateContent?alt=sse")
	if err != nil || resp.ProtoMajor != 2 || strings.Count(string(body), "data: ") != 3 {
		t.Fatalf("stream: %v %v %q", err, resp, body)
	}
	srv.InjectFaults(jonglertest.FaultReset, 1)
	if resp, _, err := send(":generateContent"); err == nil {
		t.Errorf("reset: got %s, want an error", resp.Status)
	}
	if resp, _, err := send(":generateContent"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after the reset: %v %v", resp, err)
	}
}
