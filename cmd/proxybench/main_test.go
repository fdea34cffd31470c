package main

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want spread
		text string
	}{
		{[]float64{3, 1, 2}, spread{2, 1, 3}, "2.00× (1.00–3.00)"},
		{[]float64{4, 1, 3, 2}, spread{2.5, 1, 4}, "2.50× (1.00–4.00)"},
		{[]float64{0.5}, spread{0.5, 0.5, 0.5}, "0.50×"},
		{[]float64{0.501, 0.499}, spread{0.5, 0.499, 0.501}, "0.50×"}, // alike when printed
	} {
		got := summarize(tc.xs)
		if got != tc.want {
			t.Errorf("summarize(%v) = %v, want %v", tc.xs, got, tc.want)
		}
		if s := got.format("%.2f", "×"); s != tc.text {
			t.Errorf("summarize(%v).format = %q, want %q", tc.xs, s, tc.text)
		}
	}
	if s := summarize(nil); !math.IsNaN(s.med) || s.format("%.2f", "×") != "–" {
		t.Errorf("summarize(nil) = %v, %q; want NaN, –", s, s.format("%.2f", "×"))
	}
}

func TestRatiosPairRounds(t *testing.T) {
	base := []sample{{rps: 100}, {rps: 200}, {rps: 0}}
	front := []sample{{rps: 50}, {rps: 200}, {rps: 10}, {rps: 7}}
	got := ratios(front, base, func(s sample) float64 { return s.rps })
	// Round by round; a round whose baseline is 0, and rounds the baseline
	// lacks, give no ratio.
	if want := []float64{0.5, 1}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ratios = %v, want %v", got, want)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d, want 50", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d, want 99", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("p99 of none = %d, want 0", p)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command may hold spaces and parentheses; utime 250 and stime 50
	// ticks are 3 s.
	line := "4242 (apij (x) ongler) S 1 4242 4242 0 -1 4194304 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	got, ok := parseStatCPU(line)
	if !ok || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, ok)
	}
	if _, ok := parseStatCPU("4242 (short) S 1"); ok {
		t.Error("a short line parsed")
	}
}

// TestUpstreamCountsConnections: the upstream counts each connection it
// accepts once, however many requests it carries.
func TestUpstreamCountsConnections(t *testing.T) {
	up, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for range 5 {
		if err := send(c, up.URL+genPath); err != nil {
			t.Fatal(err)
		}
	}
	if n := up.accepted(); n != 1 {
		t.Errorf("5 requests on one connection: %d accepted, want 1", n)
	}
	tr.CloseIdleConnections()
	if err := send(c, up.URL+genPath); err != nil {
		t.Fatal(err)
	}
	if n := up.accepted(); n != 2 {
		t.Errorf("after the connection closed: %d accepted, want 2", n)
	}
}

// TestLoad: a load says when it measures, then reports the requests
// answered in its measured span: no more than the server answered in all,
// and none failed.
func TestLoad(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") != benchToken || r.URL.Path != genPath {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		served.Add(1)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runLoad(pw, srv.URL, 4, 50*time.Millisecond, 200*time.Millisecond); pw.Close() }()
	br := bufio.NewReader(pr)
	first, _ := br.ReadString('\n')
	if first != measuringLine+"\n" {
		t.Fatalf("first line %q, want %q", first, measuringLine)
	}
	atStart := served.Load()
	second, _ := br.ReadString('\n')
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var r loadResult
	if err := json.Unmarshal([]byte(second), &r); err != nil {
		t.Fatalf("result %q: %v", second, err)
	}
	if r.Errors != 0 || r.Requests == 0 || r.Requests > served.Load() || r.Requests < served.Load()-atStart-4 {
		t.Errorf("result %+v; the server answered %d in all, %d after the warm-up", r, served.Load(), served.Load()-atStart)
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.Seconds != 0.2 {
		t.Errorf("result %+v: want 0 < p50 <= p99, 0.2 s", r)
	}
}

// TestLoadFails: a load whose every request is refused says so, with the
// status.
func TestLoadFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	err := runLoad(io.Discard, srv.URL, 2, 10*time.Millisecond, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "status 429") {
		t.Errorf("err = %v, want one naming status 429", err)
	}
}

// TestIdle: idle connections, and idle streams with their first event
// read, are each a connection of their own, left open until told to stop.
func TestIdle(t *testing.T) {
	for _, streams := range []bool{false, true} {
		up, err := startUpstream()
		if err != nil {
			t.Fatal(err)
		}
		stopR, stopW := io.Pipe()
		out, outW := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- runIdle(outW, stopR, up.URL, 20, streams); outW.Close() }()
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != openLine+"\n" {
			t.Fatalf("streams %v: line %q, want %q", streams, line, openLine)
		}
		if n := up.accepted(); n != 20 {
			t.Errorf("streams %v: %d connections accepted, want 20", streams, n)
		}
		stopW.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, out)
		up.close()
	}
}

func TestInts(t *testing.T) {
	if got, err := ints("-conns", "1, 8,64"); err != nil || len(got) != 3 || got[2] != 64 {
		t.Errorf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-3"} {
		if _, err := ints("-conns", bad); err == nil || !strings.Contains(err.Error(), "-conns") {
			t.Errorf("ints(%q) = %v, want an error naming -conns", bad, err)
		}
	}
}
