package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/testmain"
)

func TestMain(m *testing.M) {
	// The lease benchmark runs this binary again as its workers.
	if cfg := os.Getenv(workerEnv); cfg != "" {
		os.Exit(leaseWorkerMain(cfg, os.Stdin, os.Stdout))
	}
	// Every run closes its servers and clients: no goroutine may outlive it.
	testmain.Main(m)
}

// runCmd runs the command with args and returns its standard output.
func runCmd(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("jonglerbench %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// quickExit spares the workers the second the race detector waits at
// exit by default.
func quickExit(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

func TestLeaseSmoke(t *testing.T) {
	quickExit(t)
	out := runCmd(t, "lease", "-procs", "1,2", "-inflight", "1,2", "-keys", "3",
		"-duration", "200ms", "-check-duration", "200ms", "-json")
	var rep LeaseReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report does not parse: %v\n%s", err, out)
	}
	if rep.Benchmark != "lease" || rep.Machine.CPUs <= 0 || rep.Machine.GoVersion == "" {
		t.Errorf("report header: %+v", rep)
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want 4 (2 in-flight limits × 2 process counts)", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Leases <= 0 || r.PerSecond <= 0 || r.PerProcess <= 0 || r.PerProcessMin > r.PerProcessMax || r.MicrosPerLease <= 0 {
			t.Errorf("run %+v: figures not computed", r)
		}
	}
	if len(rep.Checks) != 2 {
		t.Fatalf("%d checks, want one per in-flight limit", len(rep.Checks))
	}
	for _, c := range rep.Checks {
		if c.Leases <= 0 || c.MaxHeld < 1 || c.MaxHeld > c.InFlight || c.Violations != 0 {
			t.Errorf("check %+v", c)
		}
	}
	if !rep.Exclusive {
		t.Error("a slot was held twice")
	}
}

func TestLeaseText(t *testing.T) {
	quickExit(t)
	out := runCmd(t, "lease", "-procs", "1", "-inflight", "1", "-duration", "100ms", "-check=false")
	for _, want := range []string{"leases/s", "machine:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckLogsFindsOverlap makes sure the exclusivity check can fail.
func TestCheckLogsFindsOverlap(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(kind byte, pid, seq int) string { return fmt.Sprintf("%c %010d %016d\n", kind, pid, seq) }
	write("key1.log", rec('E', 1, 1)+rec('X', 1, 1)+rec('E', 2, 1)+rec('X', 2, 1))
	write("key2.log", rec('E', 1, 2)+rec('E', 2, 2)+rec('X', 1, 2)+rec('X', 2, 2))
	write("key3.log", rec('X', 3, 1))
	c, err := checkLogs(dir, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Violations != 2 || c.MaxHeld != 2 || !strings.Contains(c.FirstIssue, "key2.log:2") {
		t.Errorf("check = %+v, want 2 violations (two holders of key2, an exit without entry on key3)", c)
	}
	if c, err := checkLogs(dir, 3, 2); err != nil || c.Violations != 1 {
		t.Errorf("with 2 slots: %+v, %v; want only the exit without entry", c, err)
	}
}

func TestQuotaSmoke(t *testing.T) {
	out := runCmd(t, "quota", "-minute", "100ms", "-windows", "3", "-workers", "8", "-keys", "3",
		"-models", "gemini-2.5-flash=4/8*1,gemini-2.5-pro=2/-*1", "-json")
	var rep QuotaReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report does not parse: %v\n%s", err, out)
	}
	if len(rep.Results) != 4 {
		t.Fatalf("%d results, want policy, budgets, headers and naive", len(rep.Results))
	}
	// Per project: flash 4/min capped at 8/day, pro 2/min: in 3 windows
	// 3 projects may have 3×8 + 3×2×3 = 42 successes.
	const capacity = 42
	for _, r := range rep.Results {
		if r.Capacity != capacity || r.Usable <= 0 || r.Usable > capacity {
			t.Errorf("%s: capacity %d, usable %d; want capacity %d", r.Mode, r.Capacity, r.Usable, capacity)
		}
		if r.Successes <= 0 || r.Utilisation <= 0 || r.Utilisation > 1 || r.Sends < r.Successes {
			t.Errorf("%s: %d successes of %d usable (%v), %d sends", r.Mode, r.Successes, r.Usable, r.Utilisation, r.Sends)
		}
		if r.Cells != 3*2*3 || r.MaxPerWindow > r.RateLimited || r.LatencySimP50 <= 0 || r.LatencyWallP50 > r.LatencyWallP99 {
			t.Errorf("%s: figures not computed: %+v", r.Mode, r)
		}
		if len(r.Models) != 2 {
			t.Errorf("%s: %d models", r.Mode, len(r.Models))
		}
		switch r.Mode {
		case modePolicy, modeBudgets, modeHeaders:
			if r.GoalMet == nil || r.Goal == "" {
				t.Errorf("%s: goal not checked", r.Mode)
			}
			if r.Overlaps != 0 {
				t.Errorf("%s: a key was used by two requests at once %d times", r.Mode, r.Overlaps)
			}
		case modeNaive:
			if r.GoalMet != nil {
				t.Errorf("naive: goal checked, want none")
			}
			if r.RateLimited == 0 {
				t.Error("naive: no 429 at all: the workload does not exceed the quotas")
			}
		default:
			t.Errorf("unknown mode %q", r.Mode)
		}
	}
}

func TestQuotaText(t *testing.T) {
	out := runCmd(t, "quota", "-modes", "policy", "-minute", "50ms", "-windows", "2", "-workers", "4", "-keys", "2", "-store", "memory")
	for _, want := range []string{"utilisation", "p99 simulated", "goal for policy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"quota", "-modes", "nope"}, {"lease", "-procs", "0"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code == 0 {
			t.Errorf("%q: exit 0", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"quota", "-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-windows") {
		t.Errorf("quota -h: exit %d, %s", code, stderr.String())
	}
}

func TestModelList(t *testing.T) {
	var l modelList
	if err := l.Set("a=10/100*2,b=5/-"); err != nil {
		t.Fatal(err)
	}
	want := modelList{{Name: "a", RPM: 10, RPD: 100, Weight: 2}, {Name: "b", RPM: 5, RPD: -1, Weight: 1}}
	if fmt.Sprint(l) != fmt.Sprint(want) || l.String() != "a=10/100*2,b=5/-*1" {
		t.Errorf("got %v (%s), want %v", l, l.String(), want)
	}
	for _, bad := range []string{"a", "a=10", "a=x/1", "a=1/1*0", "=1/1"} {
		if err := l.Set(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p50, p99, p100 := percentile(ds, 50), percentile(ds, 99), percentile(ds, 100); p50 != 50 || p99 != 99 || p100 != 100 {
		t.Errorf("p50 %d p99 %d p100 %d", p50, p99, p100)
	}
	if percentile(nil, 50) != 0 || percentile([]time.Duration{7}, 99) != 7 {
		t.Error("edge cases")
	}
}

// TestNaiveRotator: on a 429 the next key, every key at most once, the
// last answer returned; nothing remembered between requests.
func TestNaiveRotator(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ok := "k3"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, 64)
		n, _ := r.Body.Read(body)
		key := r.Header.Get("x-goog-api-key")
		mu.Lock()
		seen = append(seen, key+":"+string(body[:n]))
		good := key == ok
		mu.Unlock()
		if !good {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	n := &naiveRotator{keys: []string{"k1", "k2", "k3", "k4"}, base: srv.Client().Transport}
	client := &http.Client{Transport: n}
	send := func() int {
		resp, err := client.Post(srv.URL, "application/json", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 10 {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if code := send(); code != http.StatusOK {
			t.Fatalf("status %d, want 200 from k3", code)
		}
		if len(seen) == 0 || len(seen) > 4 || seen[len(seen)-1] != "k3:hi" {
			t.Fatalf("sends %q, want at most 4 ending with k3 and the body each time", seen)
		}
	}
	mu.Lock()
	ok, seen = "none", nil
	mu.Unlock()
	if code := send(); code != http.StatusTooManyRequests || len(seen) != 4 {
		t.Fatalf("all keys refused: status %d after %d sends, want 429 after 4", code, len(seen))
	}
}

func TestOverheadSmoke(t *testing.T) {
	out := runCmd(t, "overhead", "-net", "none,loopback", "-parallel", "1,4", "-keys", "8,20", "-budgets",
		"-rounds", "3", "-requests", "20", "-warmup", "5", "-json")
	var rep OverheadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report does not parse: %v\n%s", err, out)
	}
	if rep.Benchmark != "overhead" || rep.Config.Machine.CPUs <= 0 {
		t.Errorf("report header: %+v", rep.Config)
	}
	if len(rep.Scenarios) != 8 {
		t.Fatalf("%d scenarios, want 8 (2 networks × 2 parallelisms × 2 key counts)", len(rep.Scenarios))
	}
	for _, sc := range rep.Scenarios {
		if len(sc.Variants) != 4 {
			t.Fatalf("%s: %d variants, want bare, floor, memory, file", sc.title(), len(sc.Variants))
		}
		for _, v := range sc.Variants {
			if len(v.Samples) != 3 || v.NsPerOp.Median <= 0 || v.NsPerOp.Lo > v.NsPerOp.Median || v.NsPerOp.Hi < v.NsPerOp.Median || v.AllocsPerOp <= 0 {
				t.Errorf("%s, %s: figures not computed: %+v", sc.title(), v.Name, v)
			}
		}
	}
	// 5 for 8 keys (two stores × time and allocations, and the loopback
	// limit), then 2 stores × 2 networks × 2 parallelisms for 20 keys.
	if len(rep.Goals) != 5+8 {
		t.Errorf("%d goals checked, want 13: %+v", len(rep.Goals), rep.Goals)
	}
	text := runCmd(t, "overhead", "-net", "none", "-rounds", "3", "-requests", "10", "-warmup", "1", "-variants", "floor,memory")
	for _, want := range []string{"machine:", "no network, serial, 8 keys", "floor", "memory", "added over bare", "goals:"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestMedianCI(t *testing.T) {
	xs := make([]float64, 20)
	for i := range xs {
		xs[i] = float64(20 - i)
	}
	e := medianCI(xs)
	// For n = 20, benchstat's 95% interval of the median is the 6th to
	// the 15th order statistic.
	if e.Median != 10.5 || e.Lo != 6 || e.Hi != 15 {
		t.Errorf("medianCI = %+v, want median 10.5 in [6, 15]", e)
	}
	if e := medianCI([]float64{3, 1, 2}); e.Median != 2 || e.Lo != 1 || e.Hi != 3 {
		t.Errorf("medianCI of 3 = %+v", e)
	}
}
