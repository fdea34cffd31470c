package drills_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/filestore"
	"github.com/api-jongler/jongler/internal/state"
	"github.com/api-jongler/jongler/jonglertest"
)

// The soak drill: worker processes (copies of this test binary, re-executed
// as in TestCrossProcess) send requests with many goroutines each through
// their own Transport, all on one state directory, against a jonglertest
// server in this process that injects faults and enforces small quotas,
// while a supervisor SIGKILLs a random worker every so often and starts a
// new one. Afterwards it checks that no key was used by two live requests at
// once, that every request a worker started ended with a success or a
// typed error (or was cut short by its worker's death), that every state
// file parses, and that no key value appears anywhere.
//
//	go test -run '^TestSoak$' ./drills/ -soak=10m
var soakFor = flag.Duration("soak", 30*time.Second, "how long TestSoak runs its workers")

const (
	soakRole      = "soak-worker" // in roleEnv: TestMain then skips goleak
	soakConfigEnv = "JONGLER_TEST_SOAK_CONFIG"
	soakMinute    = 500 * time.Millisecond // one simulated minute
)

var soakModels = map[string]jonglertest.Quota{
	"gemini-2.5-flash":      {RPM: 30, RPD: jonglertest.Unlimited},
	"gemini-2.5-flash-lite": {RPM: 60, RPD: jonglertest.Unlimited},
}

// soakConfig is what a worker is told, as JSON in soakConfigEnv.
type soakConfig struct {
	ID         string
	URL        string
	StateDir   string
	LogFile    string
	Keys       []wireKey
	Models     []string
	Goroutines int
	// The server's simulated clock: SimStart at WallStart, one simulated
	// minute per Minute of wall time. A worker rebuilds it with
	// jonglertest.NewClock: the same instants give the same simulated
	// times in every process, so lockdowns written by one are read alike
	// by the others.
	SimStart  time.Time
	WallStart time.Time
	Minute    time.Duration
}

// soakEvent is one line of a worker's log: a request's start, its end, a
// connection opened (its local address in Detail), or the worker's orderly
// stop.
type soakEvent struct {
	Ev      string `json:"ev"` // "start", "end", "stopped", "conn"
	ID      string `json:"id,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Status  int    `json:"status,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Ms      int64  `json:"ms,omitempty"`

	wait time.Duration // simulated time until a key is back, for nokey
}

// Outcomes of a request, as a worker logs them.
const (
	soakOK      = "ok"      // 200 and the whole answer
	soakStatus  = "status"  // an error answer passed on (503, 429...)
	soakNoKey   = "nokey"   // *jongler.NoKeyError
	soakNet     = "net"     // a transport error: reset, EOF
	soakBody    = "body"    // the answer broke off while read (cut)
	soakTimeout = "timeout" // the request's deadline passed: hung
	soakOther   = "untyped" // anything else: a finding
)

// soakRequestTimeout bounds each worker request; a request that takes it
// all is reported as hung.
const soakRequestTimeout = 20 * time.Second

type soakWorker struct {
	id       string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	logFile  string
	errFile  string
	done     chan struct{}
	err      error
	killed   bool
	killedAt time.Time // just before the SIGKILL was sent
}

func startSoakWorker(t *testing.T, cfg soakConfig, dir string) *soakWorker {
	t.Helper()
	w := &soakWorker{id: cfg.ID, done: make(chan struct{})}
	w.logFile = filepath.Join(dir, cfg.ID+".jsonl")
	w.errFile = filepath.Join(dir, cfg.ID+".stderr")
	cfg.LogFile = w.logFile
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := os.Create(w.errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	// The context kills the worker if the test ends early.
	w.cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSoakWorker$", "-test.count=1", "-test.timeout=0")
	w.cmd.Env = append(os.Environ(), roleEnv+"="+soakRole, soakConfigEnv+"="+string(js))
	w.cmd.Stdout = ef
	w.cmd.Stderr = ef
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	return w
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak drill: runs worker processes for -soak (30s by default); skipped with -short")
	}
	const (
		workers    = 3
		goroutines = 8
	)
	began := time.Now()

	// Six keys: two projects of two keys, two keys alone.
	var keys []jongler.Key
	for i, p := range []string{"proj-a", "proj-a", "proj-b", "proj-b", "proj-c", "proj-d"} {
		label := fmt.Sprintf("k%d", i+1)
		keys = append(keys, jongler.Key{Name: label, Value: secret("soak-secret-", label), Project: p})
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:      serverKeys(keys...),
		Models:    soakModels,
		Minute:    soakMinute,
		Latency:   2 * time.Millisecond,
		StreamGap: time.Millisecond,
		Seed:      time.Now().UnixNano(),
		Faults: jonglertest.Faults{
			Overloaded: jonglertest.Fault{Rate: 0.04},
			Internal:   jonglertest.Fault{Rate: 0.01},
			Reset:      jonglertest.Fault{Rate: 0.02},
			RateLimit:  jonglertest.Fault{Rate: 0.01},
			Slow:       jonglertest.Fault{Rate: 0.02},
			Cut:        jonglertest.Fault{Rate: 0.01},
			SlowBy:     30 * time.Millisecond,
		},
	})
	// A cleanup, not a defer: it runs after the workers are gone.
	t.Cleanup(srv.Close)

	stateDir := t.TempDir()
	logDir := t.TempDir()
	cfg := soakConfig{
		URL: srv.URL, StateDir: stateDir, Keys: toWire(keys...), Goroutines: goroutines,
		SimStart: srv.Now(), WallStart: time.Now(), Minute: soakMinute,
	}
	for m := range soakModels {
		cfg.Models = append(cfg.Models, m)
	}
	slices.Sort(cfg.Models)

	var all []*soakWorker
	live := make([]*soakWorker, workers)
	next := 0
	start := func() *soakWorker {
		c := cfg
		c.ID = fmt.Sprintf("w%02d", next)
		next++
		w := startSoakWorker(t, c, logDir)
		all = append(all, w)
		return w
	}
	for i := range live {
		live[i] = start()
	}
	t.Cleanup(func() {
		for _, w := range all {
			select {
			case <-w.done:
			default:
				w.cmd.Process.Kill()
				<-w.done
			}
		}
	})

	// The supervisor: a SIGKILL to a random worker every 0.3–1.5 s, and a
	// new worker in its place.
	deadline := began.Add(*soakFor)
	kills := 0
	for {
		pause := 300*time.Millisecond + mrand.N(1200*time.Millisecond)
		if time.Until(deadline) < pause {
			break
		}
		time.Sleep(pause)
		i := mrand.N(len(live))
		w := live[i]
		select {
		case <-w.done:
			t.Errorf("worker %s died by itself: %v\n%s", w.id, w.err, soakTail(w.errFile))
		default:
			w.killed, w.killedAt = true, time.Now()
			if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-w.done
			kills++
		}
		live[i] = start()
	}
	time.Sleep(time.Until(deadline))

	// Stop the live workers: they finish their requests and exit.
	for _, w := range live {
		w.stdin.Close()
	}
	for _, w := range live {
		select {
		case <-w.done:
		case <-time.After(soakRequestTimeout + 10*time.Second):
			w.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump to its stderr
			<-w.done
			t.Errorf("worker %s did not stop within %v of being asked: a request hangs\n%s",
				w.id, soakRequestTimeout+10*time.Second, soakTail(w.errFile))
		}
	}
	ran := time.Since(began)

	// Every worker: killed by us, or stopped cleanly.
	outcomes := map[string]int{}
	conns := map[string][]*soakWorker{} // by the local address of each connection
	statuses := map[int]int{}
	var samples []string
	issued, killedInFlight, workerLines := 0, 0, 0
	var outs [][]byte
	for _, w := range all {
		errOut, _ := os.ReadFile(w.errFile)
		logOut, _ := os.ReadFile(w.logFile)
		outs = append(outs, errOut, logOut)
		var ee *exec.ExitError
		switch {
		case w.killed:
			if !errors.As(w.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Errorf("worker %s: %v; want killed by SIGKILL", w.id, w.err)
			}
		case w.err != nil:
			t.Errorf("worker %s: %v\n%s", w.id, w.err, soakTail(w.errFile))
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "--- FAIL"} {
			if bytes.Contains(errOut, []byte(bad)) {
				t.Errorf("worker %s printed %q:\n%s", w.id, bad, soakTail(w.errFile))
			}
		}

		open := map[string]bool{}
		stopped := false
		lines := bytes.Split(logOut, []byte("\n"))
		for n, line := range lines {
			if len(line) == 0 {
				continue
			}
			workerLines++
			var e soakEvent
			if err := json.Unmarshal(line, &e); err != nil {
				if w.killed && n == len(lines)-1 {
					continue // cut short by the kill
				}
				t.Errorf("worker %s: log line %d: %v: %q", w.id, n+1, err, line)
				continue
			}
			switch e.Ev {
			case "start":
				issued++
				if open[e.ID] {
					t.Errorf("worker %s: request %s started twice", w.id, e.ID)
				}
				open[e.ID] = true
			case "end":
				if !open[e.ID] {
					t.Errorf("worker %s: request %s ended without starting", w.id, e.ID)
				}
				delete(open, e.ID)
				outcomes[e.Outcome]++
				if e.Outcome == soakStatus {
					statuses[e.Status]++
				}
				if e.Outcome == soakOther || e.Outcome == soakTimeout {
					if len(samples) < 10 {
						samples = append(samples, fmt.Sprintf("%s %s after %dms: %s", e.ID, e.Outcome, e.Ms, e.Detail))
					}
				}
			case "stopped":
				stopped = true
			case "conn":
				conns[e.Detail] = append(conns[e.Detail], w)
			}
		}
		if w.killed {
			killedInFlight += len(open)
			continue
		}
		if !stopped {
			t.Errorf("worker %s stopped without saying so", w.id)
		}
		if len(open) > 0 {
			t.Errorf("worker %s stopped cleanly with %d requests never ended (lost): %v", w.id, len(open), slices.Sorted(maps.Keys(open)))
		}
	}
	ended := 0
	for _, n := range outcomes {
		ended += n
	}
	if issued != ended+killedInFlight {
		t.Errorf("%d requests issued, %d ended, %d cut by kills: %d unaccounted for", issued, ended, killedInFlight, issued-ended-killedInFlight)
	}
	if n := outcomes[soakOther] + outcomes[soakTimeout]; n > 0 {
		t.Errorf("%d requests ended untyped or hung; first ones:\n%s", n, strings.Join(samples, "\n"))
	}

	// The upstream's view: no key ever served two requests at once, but
	// for one case. A killed worker's request stays in flight upstream
	// until the server notices the connection gone, and the key rests
	// DeadHolderRest from when a taker finds its holder dead, so from after
	// the kill. On a loaded machine the server can take longer than that
	// to notice: a request that arrives with the key more than
	// DeadHolderRest after the kill of every worker whose request was in
	// flight with it is reported, not failed. The workers log the local
	// address of each connection they open, which the server sees as the
	// request's remote address.
	st := srv.Stats()
	excused, doubleUses := 0, st.Overlaps-len(st.OverlapLog) // unlogged ones fail
	for _, o := range st.OverlapLog {
		why := soakOverlapWhy(o, conns, filestore.DeadHolderRest)
		if why == "" {
			excused++
			continue
		}
		if doubleUses++; doubleUses <= 10 {
			t.Errorf("key %s used by a second request at %s: %s", o.Key, o.Arrived.Format("15:04:05.000000"), why)
		}
	}
	if doubleUses > 0 {
		t.Errorf("a key was used by two requests at once %d times (%d overlaps, %d of them excused); want 0", doubleUses, st.Overlaps, excused)
	}
	inFlight := 0
	for _, k := range st.Keys {
		inFlight += k.InFlight
	}
	if c := st.Counts; inFlight != 0 || c.Requests != c.Successes+c.RateLimited+c.Failed+c.Canceled {
		t.Errorf("server counts do not add up with %d in flight: %+v", inFlight, c)
	}

	// Every state file parses, and nothing was set aside as damaged.
	var logs syncBuffer
	store, err := jongler.NewFileStore(stateDir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var stateFiles, leftovers []string
	filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch {
		case name == "state.json":
			stateFiles = append(stateFiles, p)
			data, err := os.ReadFile(p)
			var v struct {
				Version int `json:"version"`
			}
			if err == nil {
				err = json.Unmarshal(data, &v)
			}
			if err != nil || v.Version != 1 {
				t.Errorf("state file %s: version %d, %v:\n%s", p, v.Version, err, data)
			}
		case strings.HasSuffix(name, ".damaged"):
			t.Errorf("a state file was set aside as damaged: %s", p)
		case strings.HasSuffix(name, ".tmp"):
			leftovers = append(leftovers, name)
		}
		return nil
	})
	if len(stateFiles) == 0 {
		t.Error("no state file was written")
	}
	if _, err := store.Load(t.Context(), "generativelanguage.googleapis.com"); err != nil {
		t.Errorf("loading the state after the soak: %v", err)
	}
	if logs.String() != "" {
		t.Errorf("loading the state after the soak logged:\n%s", logs.String())
	}
	// Temporary files of workers killed mid-write: the first write of a
	// process sweeps them.
	if err := state.Update(t.Context(), store, "generativelanguage.googleapis.com", func(*state.State) error { return nil }); err != nil {
		t.Errorf("a write after the soak: %v", err)
	}
	if names, _ := filepath.Glob(filepath.Join(stateDir, "*", ".state-*.tmp")); len(names) > 0 {
		t.Errorf("temporary state files left after a write: %v", names)
	}

	// No key value in any output, state file or state file name.
	filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			outs = append(outs, []byte(p), data)
		}
		return nil
	})
	for _, k := range keys {
		for _, o := range outs {
			if bytes.Contains(o, []byte(k.Value)) {
				t.Errorf("key %s's value appears in the output or state", k.Name)
				break
			}
		}
	}
	lockdowns, rests := 0, 0
	for _, o := range outs {
		lockdowns += bytes.Count(o, []byte("key in lockdown"))
		rests += bytes.Count(o, []byte("died holding a key"))
	}

	// The drill did what it is for.
	if kills == 0 || outcomes[soakOK] == 0 || lockdowns == 0 || killedInFlight == 0 {
		t.Errorf("a vacuous drill: %d kills, %d successes, %d lockdowns, %d requests cut by kills", kills, outcomes[soakOK], lockdowns, killedInFlight)
	}
	t.Logf("soak: %v, %d worker processes (%d SIGKILLed) × %d goroutines, 6 keys", ran.Round(time.Millisecond), len(all), kills, goroutines)
	t.Logf("requests: %d issued = %d ended + %d cut by kills; outcomes %v; error answers by status %v", issued, ended, killedInFlight, outcomes, statuses)
	t.Logf("server: %+v, overlaps %d (%d excused: only requests of workers killed over DeadHolderRest before were in flight), faults %v; %d lockdowns logged; %d keys rested after a holder's death; %d temporary files of dead writers swept",
		st.Counts, st.Overlaps, excused, st.Faults, lockdowns, rests, len(leftovers))
}

// soakOverlapWhy says why overlap o is a double use, or "" if it is not:
// if every request in flight with its key then came from a worker killed
// more than rest before it arrived. conns maps the local address of each
// worker connection to the workers that had it.
func soakOverlapWhy(o jonglertest.Overlap, conns map[string][]*soakWorker, rest time.Duration) string {
	if len(o.Others) == 0 {
		return "no request named in flight"
	}
	for _, addr := range o.Others {
		ws := conns[addr]
		if len(ws) == 0 {
			return fmt.Sprintf("a request in flight came from %s, no worker's connection", addr)
		}
		for _, w := range ws {
			switch {
			case !w.killed || w.killedAt.After(o.Arrived):
				return fmt.Sprintf("worker %s's request was in flight and the worker alive", w.id)
			case o.Arrived.Sub(w.killedAt) < rest:
				return fmt.Sprintf("%v after worker %s, which held the key, was killed: within the key's rest of %v",
					o.Arrived.Sub(w.killedAt), w.id, rest)
			}
		}
	}
	return ""
}

// An overlap is excused only if every request in flight with its key came
// from a worker killed more than the rest before.
func TestSoakOverlapWhy(t *testing.T) {
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	rest := 100 * time.Millisecond
	killed := func(id string, ago time.Duration) *soakWorker {
		return &soakWorker{id: id, killed: true, killedAt: at.Add(-ago)}
	}
	conns := map[string][]*soakWorker{
		"dead-long-ago": {killed("w1", time.Second)},
		"dead-just-now": {killed("w2", 50*time.Millisecond)},
		"alive":         {{id: "w3"}},
		"killed-later":  {killed("w4", -time.Millisecond)},
		"port-reused":   {killed("w5", time.Second), {id: "w6"}},
	}
	tests := []struct {
		others []string
		want   string // part of the reason; "" if excused
	}{
		{[]string{"dead-long-ago"}, ""},
		{[]string{"dead-just-now"}, "within the key's rest"},
		{[]string{"alive"}, "w3's request was in flight and the worker alive"},
		{[]string{"killed-later"}, "w4's request was in flight and the worker alive"},
		{[]string{"dead-long-ago", "alive"}, "w3"},
		{[]string{"port-reused"}, "w6"},
		{[]string{"unknown"}, "no worker's connection"},
		{nil, "no request named"},
	}
	for _, tt := range tests {
		got := soakOverlapWhy(jonglertest.Overlap{Key: "k1", Arrived: at, Others: tt.others}, conns, rest)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("others %v: %q; want %q", tt.others, got, tt.want)
		}
	}
}

// soakTail returns the end of a worker's standard error.
func soakTail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// TestSoakWorker is a worker process of TestSoak.
func TestSoakWorker(t *testing.T) {
	if os.Getenv(roleEnv) != soakRole {
		t.Skip("worker process of TestSoak")
	}
	var cfg soakConfig
	if err := json.Unmarshal([]byte(os.Getenv(soakConfigEnv)), &cfg); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// One write per line: a line is whole or absent when the worker dies.
	emit := func(e soakEvent) {
		b, _ := json.Marshal(e)
		if _, err := logf.Write(append(b, '\n')); err != nil {
			panic(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clock := jonglertest.NewClock(cfg.SimStart, cfg.WallStart, cfg.Minute)
	// Each connection's local address, logged before any request is sent
	// on it: the server names requests by it (see soakOverlapWhy).
	base := http.DefaultTransport.(*http.Transport).Clone()
	var dialer net.Dialer
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			emit(soakEvent{Ev: "conn", Detail: c.LocalAddr().String()})
		}
		return c, err
	}
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithBaseTransport(base),
		jongler.WithKeys(fromWire(cfg.Keys...)...),
		jongler.WithStateDir(cfg.StateDir),
		jongler.WithBaseURL(cfg.URL),
		jongler.WithMaxInFlight(1),
		jongler.WithLogger(logger),
		jongler.WithClock(clock),
	)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}

	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()

	var wg sync.WaitGroup
	for g := range cfg.Goroutines {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(g)))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s/%d/%d", cfg.ID, g, n)
				emit(soakEvent{Ev: "start", ID: id})
				began := time.Now()
				e := soakRequest(client, cfg, rng)
				e.Ev, e.ID, e.Ms = "end", id, time.Since(began).Milliseconds()
				emit(e)
				if e.wait > 0 {
					// As a polite client does: come back when a key is.
					clock.Sleep(context.Background(), min(e.wait, 10*time.Second))
				}
			}
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	emit(soakEvent{Ev: "stopped"})
}

// soakRequest sends one request of a random kind and tells how it ended.
func soakRequest(client *http.Client, cfg soakConfig, rng *mrand.Rand) soakEvent {
	ctx, cancel := context.WithTimeout(context.Background(), soakRequestTimeout)
	defer cancel()
	model := cfg.Models[rng.IntN(len(cfg.Models))]
	var req *http.Request
	var err error
	switch kind := rng.IntN(3); kind {
	case 0, 1:
		path := "/v1beta/models/" + model + ":generateContent"
		if kind == 1 {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+path,
			strings.NewReader(`{"contents":[{"parts":[{"text":"soak"}]}]}`))
	default:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+"/v1beta/openai/chat/completions",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"soak"}]}`))
		if err == nil {
			req.Header.Set("Authorization", "Bearer placeholder")
		}
	}
	if err != nil {
		return soakEvent{Outcome: soakOther, Detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		e := soakEvent{Outcome: soakErrKind(err), Detail: err.Error()}
		if nk := (*jongler.NoKeyError)(nil); errors.As(err, &nk) {
			e.wait = nk.RetryAfter
		}
		return e
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		k := soakErrKind(err)
		if k == soakNet {
			k = soakBody
		}
		return soakEvent{Outcome: k, Status: resp.StatusCode, Detail: err.Error()}
	case resp.StatusCode != http.StatusOK:
		return soakEvent{Outcome: soakStatus, Status: resp.StatusCode}
	case !bytes.Contains(body, []byte("soak")):
		return soakEvent{Outcome: soakOther, Status: resp.StatusCode, Detail: "answer without the prompt: " + string(body)}
	}
	return soakEvent{Outcome: soakOK, Status: resp.StatusCode}
}

// soakErrKind sorts an error into the outcomes a caller can act on.
func soakErrKind(err error) string {
	var nk *jongler.NoKeyError
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // a *url.Error is a net.Error whatever it wraps
	}
	switch {
	case errors.As(err, &nk):
		return soakNoKey
	case errors.Is(err, context.DeadlineExceeded):
		return soakTimeout
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return soakNet
	}
	return soakOther
}
