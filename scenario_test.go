package jongler_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// freeTier is the free-tier scenario: 4 keys in 4 projects, model A
// at 10 RPM and model B at 2 RPM per project, 200 requests mixed over both
// models from 8 goroutines, on a simulated clock.
type freeTier struct {
	srv   *jonglertest.Server
	keys  []jongler.Key
	start time.Time
}

const (
	modelA = "gemini-2.5-flash"
	modelB = "gemini-2.5-pro"
)

func newFreeTier(t *testing.T, minute time.Duration) *freeTier {
	t.Helper()
	la := mustLoad(t, "America/Los_Angeles")
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, la) // on a minute boundary
	var jk []jonglertest.Key
	var keys []jongler.Key
	for i := range 4 {
		name, value, project := fmt.Sprintf("key%d", i+1), fmt.Sprintf("free-tier-secret-%d-93ce", i+1), fmt.Sprintf("project-%d", i+1)
		jk = append(jk, jonglertest.Key{Label: name, Value: value, Project: project})
		keys = append(keys, jongler.Key{Name: name, Value: value, Project: project})
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: jk,
		Models: map[string]jonglertest.Quota{
			modelA: {RPM: 10, RPD: jonglertest.Unlimited},
			modelB: {RPM: 2, RPD: jonglertest.Unlimited},
		},
		Minute:    minute,
		Start:     start,
		StreamGap: -1,
	})
	t.Cleanup(srv.Close)
	return &freeTier{srv: srv, keys: keys, start: start}
}

// run sends nA requests for model A and nB for model B, shuffled, from
// workers goroutines, and returns how many failed.
func (f *freeTier) run(t *testing.T, tr http.RoundTripper, nA, nB, workers int) (failures []string) {
	models := make([]string, 0, nA+nB)
	for range nA {
		models = append(models, modelA)
	}
	for range nB {
		models = append(models, modelB)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(models), func(i, j int) { models[i], models[j] = models[j], models[i] })
	queue := make(chan string, len(models))
	for _, m := range models {
		queue <- m
	}
	close(queue)
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range queue {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1beta/models/"+m+":generateContent",
					strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					body := readBody(t, resp)
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
					}
				}
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", m, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return failures
}

// minimum is the quotas' theoretical minimum duration for nA and nB
// requests: the last request of the slower model is served at the start of
// the window its count needs, so ceil(n/capacity)-1 whole minutes.
func minimum(nA, nB int) time.Duration {
	windows := func(n, perWindow int) int { return (n + perWindow - 1) / perWindow }
	return time.Duration(max(windows(nA, 4*10), windows(nB, 4*2))-1) * time.Minute
}

func (f *freeTier) transport(t *testing.T, opts ...jongler.Option) *jongler.Transport {
	t.Helper()
	all := append([]jongler.Option{
		jongler.WithKeys(f.keys...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(f.srv.URL),
		jongler.WithClock(f.srv.Clock()),
		jongler.WithMaxWait(2 * time.Minute), // simulated: a key is back within a window
	}, opts...)
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com", all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestFreeTierScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds of wall time; skipped with -short")
	}
	const nA, nB = 160, 40
	for _, tc := range []struct {
		name            string
		opts            []jongler.Option
		max429PerWindow int
	}{
		{"policy alone", nil, 1},
		{"with budgets", []jongler.Option{jongler.WithBudgets(
			jongler.Budget{Model: modelA, PerMinute: 10}, jongler.Budget{Model: modelB, PerMinute: 2})}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFreeTier(t, 400*time.Millisecond)
			tr := f.transport(t, tc.opts...)
			begin := f.srv.Now()
			failures := f.run(t, tr, nA, nB, 8)
			took := f.srv.Now().Sub(begin)
			if len(failures) > 0 {
				t.Fatalf("%d of %d requests failed, first: %s", len(failures), nA+nB, failures[0])
			}
			st := f.srv.Stats()
			if st.Successes != nA+nB {
				t.Fatalf("%d successes, want %d", st.Successes, nA+nB)
			}
			if st.Overlaps != 0 {
				t.Fatalf("a key was used by two requests at once %d times", st.Overlaps)
			}
			total429 := 0
			for w, c := range st.Windows {
				total429 += c.RateLimited
				if c.RateLimited > tc.max429PerWindow {
					t.Errorf("%d 429s for %s %s in minute %d, want at most %d", c.RateLimited, w.Project, w.Model, w.Minute, tc.max429PerWindow)
				}
			}
			min := minimum(nA, nB)
			t.Logf("%d requests in %v simulated (theoretical minimum %v, %.1f%%), %d 429s absorbed",
				nA+nB, took.Round(time.Millisecond), min, 100*float64(took)/float64(min), total429)
			if took > min+min/10 {
				t.Fatalf("took %v simulated, more than 110%% of the quotas' minimum %v", took, min)
			}
		})
	}
}

// TestSharedProjectLocksTogether: keys of one project share its quota, so a
// per-minute 429 on one locks both for that model, and only that model.
func TestSharedProjectLocksTogether(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: []jonglertest.Key{
			{Label: "a1", Value: "shared-a1-secret", Project: "proj-a"},
			{Label: "a2", Value: "shared-a2-secret", Project: "proj-a"},
			{Label: "b1", Value: "shared-b1-secret", Project: "proj-b"},
		},
		Models: map[string]jonglertest.Quota{
			modelA: {RPM: 1, RPD: jonglertest.Unlimited},
			modelB: {RPM: 5, RPD: jonglertest.Unlimited},
		},
		Minute: time.Hour, // windows never turn during the test
	})
	defer srv.Close()
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(
			jongler.Key{Name: "a1", Value: "shared-a1-secret", Project: "proj-a"},
			jongler.Key{Name: "a2", Value: "shared-a2-secret", Project: "proj-a"},
			jongler.Key{Name: "b1", Value: "shared-b1-secret", Project: "proj-b"}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(srv.URL),
		jongler.WithClock(srv.Clock()),
		jongler.WithMaxWait(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	send := func(model string) int {
		resp := post(t, tr, srv.URL+"/v1beta/models/"+model+":generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`)
		readBody(t, resp)
		return resp.StatusCode
	}
	// a1 (least recently used first) spends proj-a's one request; a2 then
	// gets the 429, which locks a1 and a2 for model A; b1 serves.
	for i, want := range []int{200, 200} {
		if got := send(modelA); got != want {
			t.Fatalf("request %d: status %d", i, got)
		}
	}
	ks, _ := tr.KeyStates(context.Background())
	for _, n := range []string{"a1", "a2"} {
		if d := ks.Keys[n]; d.State != jongler.StateLockdown || d.Model != modelA {
			t.Fatalf("%s: %+v, want LOCKDOWN for %s", n, d, modelA)
		}
	}
	if st := srv.Stats(); st.RateLimited != 1 {
		t.Fatalf("%d 429s, want 1", st.RateLimited)
	}
	// Model B is still served by proj-a's keys.
	before := srv.Stats().Keys
	if got := send(modelB); got != 200 {
		t.Fatalf("model B: %d", got)
	}
	after := srv.Stats().Keys
	if after["a1"].Requests+after["a2"].Requests == before["a1"].Requests+before["a2"].Requests {
		t.Fatal("model B was not sent with a key of the project locked for model A only")
	}
}

func TestBareRateLimitOnSeveralProjectsThrottlesAll(t *testing.T) {
	body := fixture(t, "gemini/429-bare.json")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.WriteHeader(429)
		w.Write(body)
	})
	tr := newTransport(t, u, jongler.WithMaxWait(-1))
	resp := post(t, tr, u.URL+genPath, "{}")
	if got := readBody(t, resp); resp.StatusCode != 429 || got != string(body) {
		t.Fatalf("status %d body %q: want the upstream's 429 unchanged", resp.StatusCode, got)
	}
	// Two projects got bare 429s: the caller is throttled, the third key is
	// not burnt.
	if n := len(u.requests()); n != 2 {
		t.Fatalf("%d sends, want 2", n)
	}
	ks, _ := tr.KeyStates(context.Background())
	if len(ks.Lockdown) != 3 || !strings.Contains(ks.Keys["key3"].Reason, "throttles the caller") {
		t.Fatalf("%+v: want every key shown waiting for the throttle", ks)
	}
	_, err := (&http.Client{Transport: tr}).Do(mustRequest(t, u.URL+genPath))
	var nk *jongler.NoKeyError
	if !errorsAs(err, &nk) || nk.RetryAfter <= 0 || nk.RetryAfter > jongler.DefaultThrottleCooldown {
		t.Fatalf("err = %v, want ErrNoKeys with RetryAfter within the throttle cooldown", err)
	}
}
