package jonglertest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// unlimited returns quotas that never refuse flash.
func unlimited() map[string]jonglertest.Quota {
	return map[string]jonglertest.Quota{flash: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}}
}

// outcomes sends n requests one after the other and returns their statuses,
// "reset" for a connection closed without answer and "cut" for an answer
// that broke off.
func outcomes(t *testing.T, srv *jonglertest.Server, key string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		r := gen(t, srv, key, flash)
		switch {
		case r.err != nil && r.status == 0:
			out = append(out, "reset")
		case r.err != nil:
			out = append(out, "cut")
		default:
			out = append(out, fmt.Sprint(r.status))
		}
	}
	return out
}

func TestFaultsAreDeterministic(t *testing.T) {
	faults := jonglertest.Faults{
		Overloaded: jonglertest.Fault{Rate: 0.15},
		Internal:   jonglertest.Fault{Rate: 0.1},
		Reset:      jonglertest.Fault{Rate: 0.1},
		RateLimit:  jonglertest.Fault{Rate: 0.1},
		Cut:        jonglertest.Fault{Rate: 0.1},
		Slow:       jonglertest.Fault{Rate: 0.1},
		SlowBy:     time.Millisecond,
	}
	run := func(seed int64) ([]string, jonglertest.Stats) {
		srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited(), Faults: faults, Seed: seed})
		defer srv.Close()
		return outcomes(t, srv, "value-k", 60), srv.Stats()
	}
	a, st := run(42)
	b, _ := run(42)
	c, _ := run(7)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("seeds 42 and 7 gave the same faults: %v", a)
	}
	seen := map[string]int{}
	for _, o := range a {
		seen[o]++
	}
	for o, kind := range map[string]jonglertest.FaultKind{
		"503": jonglertest.FaultOverloaded, "500": jonglertest.FaultInternal,
		"reset": jonglertest.FaultReset, "429": jonglertest.FaultRateLimit, "cut": jonglertest.FaultCut,
	} {
		if seen[o] == 0 {
			t.Errorf("no %s among %v", o, a)
		}
		if st.Faults[kind] != seen[o] {
			t.Errorf("Stats.Faults[%v] = %d, clients saw %d", kind, st.Faults[kind], seen[o])
		}
	}
	if st.Faults[jonglertest.FaultSlow] == 0 {
		t.Error("no slow answer")
	}
	if st.Requests != 60 || st.Successes+st.RateLimited+st.Failed != 60 {
		t.Errorf("counts %+v", st.Counts)
	}
}

func TestFaultCounters(t *testing.T) {
	tests := []struct {
		name   string
		faults jonglertest.Faults
		inject map[jonglertest.FaultKind]int
		want   string
	}{
		{
			name:   "every third request fails",
			faults: jonglertest.Faults{Internal: jonglertest.Fault{Every: 3}},
			want:   "[200 200 500 200 200 500 200]",
		},
		{
			name:   "injected faults strike the next requests",
			inject: map[jonglertest.FaultKind]int{jonglertest.FaultOverloaded: 2},
			want:   "[503 503 200 200]",
		},
		{
			name:   "reset comes first",
			inject: map[jonglertest.FaultKind]int{jonglertest.FaultOverloaded: 1, jonglertest.FaultReset: 1, jonglertest.FaultRateLimit: 2},
			want:   "[reset 429 200]",
		},
		{
			name:   "cut",
			inject: map[jonglertest.FaultKind]int{jonglertest.FaultCut: 1},
			want:   "[cut 200]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited(), Faults: tt.faults})
			defer srv.Close()
			for k, n := range tt.inject {
				srv.InjectFaults(k, n)
			}
			n := strings.Count(tt.want, " ") + 1
			if got := fmt.Sprint(outcomes(t, srv, "value-k", n)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if k := srv.Stats().Keys["k"]; k.InFlight != 0 || k.Overlaps != 0 {
				t.Errorf("key stats %+v", k)
			}
		})
	}
}

// Faults strike only eligible requests, and refusals by fault do not count
// against the quota (but a cut answer does).
func TestFaultsAndQuota(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   keys("p", "k"),
		Models: map[string]jonglertest.Quota{flash: {RPM: 2, RPD: 100}},
		Start:  noon,
		Faults: jonglertest.Faults{Internal: jonglertest.Fault{Every: 2}},
	})
	defer srv.Close()
	var got []string
	add := func(key string) { got = append(got, outcomes(t, srv, key, 1)...) }
	add("value-k") // eligible 1: 200 (quota 1/2)
	add("bad-key") // not eligible
	add("value-k") // eligible 2: 500, quota untouched
	srv.InjectFaults(jonglertest.FaultCut, 1)
	add("value-k") // eligible 3: cut, quota 2/2
	add("value-k") // eligible 4: 500
	add("value-k") // eligible 5: 429 quota
	if fmt.Sprint(got) != "[200 400 500 cut 500 429]" {
		t.Errorf("got %v", got)
	}
	w := srv.Stats().Windows[jonglertest.Window{Project: "p", Model: flash, Minute: 0}]
	if w.Successes != 1 || w.RateLimited != 1 {
		t.Errorf("window 0: %+v", w)
	}
}

// Latency delays successes only; Slow delays any answer. Only lower bounds
// on durations are checked, which a loaded machine cannot break: refusals
// come back at all although Latency is an hour.
func TestLatencyAndSlowAnswers(t *testing.T) {
	const latency, slowBy = 60 * time.Millisecond, 100 * time.Millisecond
	timed := func(srv *jonglertest.Server) (int, time.Duration) {
		t0 := time.Now()
		r := gen(t, srv, "value-k", flash)
		return r.status, time.Since(t0)
	}

	fast := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited(), Latency: latency})
	defer fast.Close()
	if status, d := timed(fast); status != 200 || d < latency {
		t.Errorf("success: %d after %v, want 200 after at least %v", status, d, latency)
	}

	slow := jonglertest.NewServer(jonglertest.Config{
		Keys:    keys("p", "k"),
		Models:  map[string]jonglertest.Quota{flash: {RPM: 0, RPD: 0}},
		Latency: time.Hour,
		Faults:  jonglertest.Faults{SlowBy: slowBy},
	})
	defer slow.Close()
	if status, _ := timed(slow); status != 429 {
		t.Errorf("refusal: %d, want 429", status)
	}
	slow.InjectFaults(jonglertest.FaultSlow, 1)
	if status, d := timed(slow); status != 429 || d < slowBy {
		t.Errorf("slow refusal: %d after %v, want 429 after at least %v", status, d, slowBy)
	}
}

// A reset leaves the client with an error and no response; the transport
// must not retry it behind the caller's back.
func TestReset(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited()})
	defer srv.Close()
	srv.InjectFaults(jonglertest.FaultReset, 1)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/"+flash+":generateContent", strings.NewReader(okRequest))
	req.Header.Set("x-goog-api-key", "value-k")
	resp, err := srv.Client().Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Fatalf("got %s, want an error", resp.Status)
	}
	st := srv.Stats()
	if st.Requests != 1 || st.Failed != 1 || st.Faults[jonglertest.FaultReset] != 1 {
		t.Errorf("stats %+v", st)
	}
}
