package jongler_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// freeTier is the free-tier scenario: 4 keys in 4 projects, model A
// at 10 RPM and model B at 2 RPM per project, 200 requests mixed over both
// models from 8 goroutines, on a simulated clock.
//
// The server is served in memory and the scenario runs in a
// testing/synctest bubble: simulated time moves only when every goroutine
// waits, never while the transport works. Over a socket on the wall clock a
// loaded machine stretched the instants between a budget's spend and the
// server's count (a 20 ms stall is 3 simulated seconds at 400 ms a minute)
// until a request spent in one minute window arrived in the next and got a
// 429, and made the run take simulated minutes more.
type freeTier struct {
	srv *jonglertest.Server
	url string // the address requests are sent to; served in memory
	// headers: the server sends rate-limit headers, and the transport
	// reads them with the OpenAI policy.
	headers bool
	keys    []jongler.Key
	start   time.Time
}

// inMemory serves requests with a handler, without a network: no goroutine
// of a synctest bubble may wait on a socket.
type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

const (
	modelA = "gemini-2.5-flash"
	modelB = "gemini-2.5-pro"
)

func newFreeTier(t *testing.T, minute time.Duration, headers bool) *freeTier {
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
	srv := jonglertest.NewUnstartedServer(jonglertest.Config{
		Keys: jk,
		Models: map[string]jonglertest.Quota{
			modelA: {RPM: 10, RPD: jonglertest.Unlimited},
			modelB: {RPM: 2, RPD: jonglertest.Unlimited},
		},
		Minute:           minute,
		Start:            start,
		RateLimitHeaders: headers,
		StreamGap:        -1,
	})
	t.Cleanup(srv.Close)
	return &freeTier{srv: srv, url: "http://gemini.test", keys: keys, start: start, headers: headers}
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
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url+"/v1beta/models/"+m+":generateContent",
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
		// A MemoryStore: the file store's lock polls are timers too, and
		// the cross-process tests cover that store.
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(f.url),
		jongler.WithBaseTransport(inMemory{f.srv.Handler()}),
		jongler.WithClock(f.srv.Clock()),
		jongler.WithMaxWait(2 * time.Minute), // simulated: a key is back within a window
	}, opts...)
	connector := jongler.ConnectorGemini
	if f.srv != nil && f.headers {
		// The same quotas behind a header provider: an OpenAI-style
		// connector of one's own.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sim.json"), []byte(`{"name":"simulated-header-provider",
			"host":"gemini.test","protocol":"http","requires_api_key":true,"api_key_header":"x-goog-api-key","policy":"openai"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		connector = "simulated-header-provider"
		all = append(all, jongler.WithConnectorsDir(dir))
	}
	tr, err := jongler.NewTransport(connector, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestFreeTierScenario(t *testing.T) {
	const nA, nB = 160, 40
	for _, tc := range []struct {
		name string
		opts []jongler.Option
		// max429 bounds the 429s of each (project, model): with no budget
		// the first teaches the quota, and none follows.
		max429  int
		headers bool
	}{
		{"no budgets: the quota is learned", nil, 1, false},
		{"with budgets", []jongler.Option{jongler.WithBudgets(
			jongler.Budget{Model: modelA, PerMinute: 10}, jongler.Budget{Model: modelB, PerMinute: 2})}, 0, false},
		{"with budgets, counted in the state", []jongler.Option{jongler.WithBudgets(
			jongler.Budget{Model: modelA, PerMinute: 10}, jongler.Budget{Model: modelB, PerMinute: 2}),
			jongler.WithStore(noCounters{jongler.NewMemoryStore()})}, 0, false},
		{"header provider, no budgets", nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFreeTier(t, 400*time.Millisecond, tc.headers)
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
				per := map[[2]string]int{}
				for w, c := range st.Windows {
					total429 += c.RateLimited
					per[[2]string{w.Project, w.Model}] += c.RateLimited
				}
				for pm, n := range per {
					if n > tc.max429 {
						t.Errorf("%d 429s for %s %s in the run, want at most %d", n, pm[0], pm[1], tc.max429)
					}
				}
				min := minimum(nA, nB)
				t.Logf("%d requests in %v simulated (theoretical minimum %v, %.1f%%), %d 429s absorbed",
					nA+nB, took.Round(time.Millisecond), min, 100*float64(took)/float64(min), total429)
				if took > min+min/10 {
					t.Fatalf("took %v simulated, more than 110%% of the quotas' minimum %v", took, min)
				}
			})
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
