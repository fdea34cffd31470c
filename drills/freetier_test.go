package drills_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/redisstore"
)

// The free-tier scenario of the root package (TestFreeTierScenario: 4
// keys in 4 projects, model A at 10 RPM and model B at 2 RPM per project,
// 160 + 40 requests on a simulated clock), with the requests shared by 3
// processes that only Redis connects. TestFreeTierMember does a member's
// work when roleEnv is "member" (startMember sets it), and skips otherwise.
const (
	ftRedisEnv   = "JONGLER_TEST_FREETIER_REDIS"
	ftPrefixEnv  = "JONGLER_TEST_FREETIER_PREFIX"
	ftURLEnv     = "JONGLER_TEST_FREETIER_URL"
	ftModelsEnv  = "JONGLER_TEST_FREETIER_MODELS" // the member's share, comma-separated
	ftClockEnv   = "JONGLER_TEST_FREETIER_CLOCK"  // simulated unix ns, wall unix ns, wall ns per simulated minute
	ftBudgetsEnv = "JONGLER_TEST_FREETIER_BUDGETS"

	ftModelA = "gemini-2.5-flash"
	ftModelB = "gemini-2.5-pro"
	ftMinute = 2 * time.Second // longer than the root scenario's: processes add latency at window ends
)

func ftKeys() []jongler.Key {
	var keys []jongler.Key
	for i := range 4 {
		keys = append(keys, jongler.Key{
			Name:    fmt.Sprintf("key%d", i+1),
			Value:   fmt.Sprintf("free-tier-secret-%d-93ce", i+1),
			Project: fmt.Sprintf("project-%d", i+1),
		})
	}
	return keys
}

func TestFreeTierAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; runs for a few seconds")
	}
	rs := redistest.Start(t)
	const nA, nB, procs = 160, 40, 3
	for _, tc := range []struct {
		name            string
		budgets         bool
		max429PerWindow int
	}{
		{"policy alone", false, 1},
		{"with budgets", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la, err := time.LoadLocation("America/Los_Angeles")
			if err != nil {
				t.Fatal(err)
			}
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys: serverKeys(ftKeys()...),
				Models: map[string]jonglertest.Quota{
					ftModelA: {RPM: 10, RPD: jonglertest.Unlimited},
					ftModelB: {RPM: 2, RPD: jonglertest.Unlimited},
				},
				Minute:    ftMinute,
				Start:     time.Date(2026, 5, 4, 9, 0, 0, 0, la),
				StreamGap: -1,
			})
			t.Cleanup(srv.Close)

			models := make([]string, 0, nA+nB)
			for range nA {
				models = append(models, ftModelA)
			}
			for range nB {
				models = append(models, ftModelB)
			}
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(models), func(i, j int) { models[i], models[j] = models[j], models[i] })
			shares := make([][]string, procs)
			for i, m := range models {
				shares[i%procs] = append(shares[i%procs], m)
			}
			// The members rebuild the server's simulated clock from one
			// reading of it between two of the wall clock close together
			// (retried if the process was preempted between them), paired
			// with the later one: a member's clock may lag the server's
			// by that much, never lead it.
			var wall, sim time.Time
			for range 1000 {
				before := time.Now()
				sim = srv.Clock().Now()
				wall = time.Now()
				if wall.Sub(before) < 20*time.Microsecond {
					break
				}
			}
			clock := fmt.Sprintf("%d,%d,%d", sim.UnixNano(), wall.UnixNano(), int64(ftMinute))
			prefix := fmt.Sprintf("free-tier-%d:", time.Now().UnixNano()) // fresh: no lease predates it
			begin := srv.Now()
			var members []*member
			for i := range procs {
				env := []string{
					ftRedisEnv + "=" + rs.Addr,
					ftPrefixEnv + "=" + prefix,
					ftURLEnv + "=" + srv.URL,
					ftModelsEnv + "=" + strings.Join(shares[i], ","),
					ftClockEnv + "=" + clock,
					ftBudgetsEnv + "=" + strconv.FormatBool(tc.budgets),
				}
				members = append(members, startMember(t, "TestFreeTierMember", "member-"+strconv.Itoa(i), env))
			}
			failures := 0
			for _, m := range members {
				res := m.expect(t, "result ", 60*time.Second)
				t.Logf("%s: %s", m.id, res)
				if !strings.HasPrefix(res, "result failures=0 ") {
					failures++
					t.Errorf("%s: %s; output:\n%s", m.id, res, m.output())
				}
				if err := m.wait(); err != nil {
					t.Errorf("%s: %v; output:\n%s", m.id, err, m.output())
				}
			}
			took := srv.Now().Sub(begin)
			st := srv.Stats()
			if st.Successes != nA+nB {
				t.Errorf("%d successes, want %d", st.Successes, nA+nB)
			}
			if st.Overlaps != 0 {
				t.Errorf("a key was used by two requests at once %d times", st.Overlaps)
			}
			total429 := 0
			for w, c := range st.Windows {
				total429 += c.RateLimited
				if c.RateLimited > tc.max429PerWindow {
					t.Errorf("%d 429s for %s %s in minute %d, want at most %d", c.RateLimited, w.Project, w.Model, w.Minute, tc.max429PerWindow)
				}
			}
			t.Logf("%d requests from %d processes in %v simulated (process start included), %d 429s absorbed", nA+nB, procs, took.Round(time.Second), total429)
		})
	}
}

// TestFreeTierMember is a member process of TestFreeTierAcrossProcesses.
func TestFreeTierMember(t *testing.T) {
	if os.Getenv(roleEnv) != "member" {
		t.Skip("a member process of TestFreeTierAcrossProcesses")
	}
	var simNS, wallNS, minute int64
	if _, err := fmt.Sscanf(os.Getenv(ftClockEnv), "%d,%d,%d", &simNS, &wallNS, &minute); err != nil {
		t.Fatal(err)
	}
	la, _ := time.LoadLocation("America/Los_Angeles")
	clock := jonglertest.NewClock(time.Unix(0, simNS).In(la), time.Unix(0, wallNS), time.Duration(minute))
	client := redis.NewClient(&redis.Options{Addr: os.Getenv(ftRedisEnv), ContextTimeoutEnabled: true})
	defer client.Close()
	// A fresh prefix: no lease predates it, no restart quiet needed.
	store := redisstore.New(client, redisstore.WithPrefix(os.Getenv(ftPrefixEnv)),
		redisstore.WithRestartQuiet(0), redisstore.WithClock(clock))
	base := os.Getenv(ftURLEnv)
	opts := []jongler.Option{
		jongler.WithKeys(ftKeys()...),
		jongler.WithStore(store),
		jongler.WithBaseURL(base),
		jongler.WithClock(clock),
		jongler.WithMaxWait(2 * time.Minute), // simulated: a key is back within a window
	}
	if os.Getenv(ftBudgetsEnv) == "true" {
		opts = append(opts, jongler.WithBudgets(
			jongler.Budget{Model: ftModelA, PerMinute: 10}, jongler.Budget{Model: ftModelB, PerMinute: 2}))
	}
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()

	queue := make(chan string, 200)
	for _, m := range strings.Split(os.Getenv(ftModelsEnv), ",") {
		queue <- m
	}
	close(queue)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for m := range queue {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := generate(ctx, tr, base, m, false, nil)
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, m+": "+err.Error())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	first := ""
	if len(failures) > 0 {
		first = failures[0]
	}
	fmt.Printf("result failures=%d first=%q\n", len(failures), first)
}
