package drills_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/redisstore"
)

// The fleet drill runs copies of this test binary as the members of a
// fleet: TestFleetMember does a member's work when roleEnv is "member",
// and skips otherwise. Only Redis connects the members: each has its own
// state directory.
const (
	fleetIDEnv    = "JONGLER_TEST_FLEET_ID"
	fleetRedisEnv = "JONGLER_TEST_FLEET_REDIS"
	fleetURLEnv   = "JONGLER_TEST_FLEET_URL"
	fleetKeysEnv  = "JONGLER_TEST_FLEET_KEYS" // label=value,...
	fleetTTLEnv   = "JONGLER_TEST_FLEET_TTL"
	fleetPrefix   = "fleet:"

	fleetModel = "gemini-2.5-flash"
)

// member is a child process of the drill.
type member struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its standard output, line by line

	mu  sync.Mutex
	out strings.Builder // everything it printed

	waitOnce sync.Once
	waitErr  error
}

func (m *member) wait() error {
	m.waitOnce.Do(func() { m.waitErr = m.cmd.Wait() })
	return m.waitErr
}

func (m *member) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

func (m *member) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(m.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: %v", m.id, err)
	}
}

// expect waits for a line starting with prefix and returns it.
func (m *member) expect(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-m.lines:
			if !ok {
				t.Fatalf("%s ended before printing %q; output:\n%s", m.id, prefix, m.output())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("%s printed no %q within %v; output:\n%s", m.id, prefix, within, m.output())
		}
	}
}

// startMember runs this test binary's test named run as a child process.
func startMember(t *testing.T, run, id string, env []string) *member {
	t.Helper()
	m := &member{id: id, lines: make(chan string, 1024)}
	m.cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+run+"$", "-test.count=1", "-test.timeout=120s", "-test.v")
	m.cmd.Env = append(os.Environ(), append(env, roleEnv+"=member", fleetIDEnv+"="+id,
		jongler.StateDirEnv+"="+t.TempDir())...)
	m.cmd.WaitDelay = 5 * time.Second
	m.cmd.Stderr = &lockedWriter{m: m}
	var err error
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m.mu.Lock()
			m.out.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
			select {
			case m.lines <- sc.Text():
			default: // nobody waits for it
			}
		}
	}()
	t.Cleanup(func() {
		m.cmd.Process.Signal(syscall.SIGCONT)
		m.stdin.Close()
		m.wait()
	})
	return m
}

type lockedWriter struct{ m *member }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return w.m.out.Write(p)
}

// TestFleetDrill runs 4 processes × 8 goroutines on 8 keys with one request
// per key at a time, connected by Redis only, against jonglertest: no key
// is ever used twice at once; the key of a SIGKILLed process serves again
// within the lease TTL; a SIGSTOPped process that wakes after its TTL finds
// its lease lost and its request cancelled, saying why, and the only
// overlaps are with its requests while it was stopped and as it woke (the
// documented window);
// redis-server restarted mid-run (losing everything) grants no lease twice
// and the fleet recovers by itself. Redis holds no key value at the end.
func TestFleetDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet of processes")
	}
	const ttl = 2 * time.Second
	rs := redistest.Start(t)

	var keys []jongler.Key
	var pairs []string
	values := map[string]string{}
	for i := range 8 {
		label := fmt.Sprintf("k%d", i+1)
		v := secret("fleet-secret-", label)
		values[label] = v
		keys = append(keys, jongler.Key{Name: label, Value: v, Project: "p-" + label})
		pairs = append(pairs, label+"="+v)
	}
	up := jonglertest.NewServer(jonglertest.Config{
		Keys:         serverKeys(keys...),
		Models:       map[string]jonglertest.Quota{fleetModel: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
		Latency:      3 * time.Millisecond,
		StreamChunks: 600,
		StreamGap:    25 * time.Millisecond, // a held stream lasts 15 s
	})
	t.Cleanup(up.Close)

	env := []string{
		fleetRedisEnv + "=" + rs.Addr,
		fleetURLEnv + "=" + up.URL,
		fleetKeysEnv + "=" + strings.Join(pairs, ","),
		fleetTTLEnv + "=" + ttl.String(),
	}
	var fleet []*member
	for i := range 4 {
		fleet = append(fleet, startMember(t, "TestFleetMember", "member-"+strconv.Itoa(i), env))
	}
	successes := func() int { return up.Stats().Successes }
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s; stats %+v", within, what, up.Stats().Counts)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The first leases wait until the fresh server has been up one TTL.
	waitFor("the fleet's first 400 answers", 30*time.Second, func() bool { return successes() >= 400 })
	t.Logf("fleet running: %+v", up.Stats().Counts)

	// SIGKILL mid-request: member-1 holds k1 with a stream, and dies.
	killed := fleet[1]
	killed.send(t, "hold k1")
	killed.expect(t, "held k1", 10*time.Second)
	time.Sleep(ttl / 2) // renewed at least once meanwhile
	before := up.Stats().Keys["k1"].Requests
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	killed.wait()
	waitFor("k1 to serve again after its holder was killed", ttl+5*time.Second, func() bool {
		return up.Stats().Keys["k1"].Requests > before
	})
	reused := time.Since(killedAt)
	t.Logf("k1 served again %v after SIGKILL of its holder (TTL %v)", reused.Round(time.Millisecond), ttl)
	if reused > ttl+time.Second {
		// The lease lapses at most one TTL after its last renewal; the
		// second is for the fleet's polling on a loaded machine.
		t.Errorf("k1 served again only %v after its holder died; want within the TTL %v", reused, ttl)
	}
	if o := up.Stats().Overlaps; o != 0 {
		t.Fatalf("%d overlaps after the SIGKILL drill; want 0", o)
	}

	// SIGSTOP past the TTL: member-2 holds k2 with a stream and is stopped;
	// the others lease k2 once its lease lapses: the stopped process's
	// stream is still open upstream (the window). On SIGCONT the process
	// learns at once that its lease is lost and cancels the stream.
	stopped := fleet[2]
	stopped.send(t, "hold k2")
	stopped.expect(t, "held k2", 10*time.Second)
	canceledBefore := up.Stats().Keys["k2"].Canceled
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	before = up.Stats().Keys["k2"].Requests
	waitFor("k2 to serve the others while its holder is stopped", ttl+5*time.Second, func() bool {
		return up.Stats().Keys["k2"].Requests > before
	})
	t.Logf("k2 served the others %v after SIGSTOP of its holder", time.Since(stoppedAt).Round(time.Millisecond))
	time.Sleep(ttl / 2)
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	contAt := time.Now()
	line := stopped.expect(t, "lost k2", 10*time.Second)
	t.Logf("%v after SIGCONT the stopped process said: %s", time.Since(contAt).Round(time.Millisecond), line)
	if !strings.Contains(line, jongler.ErrLeaseLost.Error()) {
		t.Errorf("the stopped holder's request ended with %q; want an error saying the lease was lost", line)
	}
	waitFor("jonglertest to see the stopped holder's stream cancelled", 5*time.Second, func() bool {
		return up.Stats().Keys["k2"].Canceled > canceledBefore
	})
	// The window also holds the short requests the stopped process was
	// writing when it stopped: on waking, a write may run before the
	// watchdog that cancels it. They end within the upstream's latency.
	time.Sleep(ttl / 2)
	window := up.Stats()
	perKey := map[string]int{}
	for label, ks := range window.Keys {
		if ks.Overlaps > 0 {
			perKey[label] = ks.Overlaps
		}
	}
	t.Logf("window: %d overlaps (by key: %v) between the stopped process's leases lapsing and its waking %v ago",
		window.Overlaps, perKey, time.Since(contAt).Round(time.Millisecond))

	// redis-server dies and comes back empty (no persistence).
	s0 := successes()
	waitFor("more answers before the restart", 10*time.Second, func() bool { return successes() > s0+100 })
	rs.Kill()
	downAt := time.Now()
	time.Sleep(300 * time.Millisecond)
	rs.Restart()
	t.Logf("redis-server restarted after %v down", time.Since(downAt).Round(time.Millisecond))
	s1 := successes()
	waitFor("the fleet to recover after the restart", 30*time.Second, func() bool { return successes() > s1+400 })
	t.Logf("the fleet served 400 more %v after the restart", time.Since(downAt).Round(time.Millisecond))

	// Stop the fleet and read the members' accounts.
	var live []*member
	for _, m := range fleet {
		if m != killed {
			live = append(live, m)
			m.send(t, "stop")
		}
	}
	for _, m := range live {
		res := m.expect(t, "result ", 30*time.Second)
		t.Logf("%s: %s", m.id, res)
		m.stdin.Close()
		if err := m.wait(); err != nil {
			t.Errorf("%s: %v; output:\n%s", m.id, err, m.output())
		}
		if !strings.Contains(res, "other=0 ") {
			t.Errorf("%s had unexpected errors: %s; output:\n%s", m.id, res, m.output())
		}
	}

	end := up.Stats()
	t.Logf("upstream: %+v, overlaps %d, all within the stopped process's window", end.Counts, end.Overlaps)
	if end.Overlaps != window.Overlaps {
		t.Errorf("%d overlaps at the end, %d right after the stopped holder's window: a key was used twice at once outside it", end.Overlaps, window.Overlaps)
	}
	for label, ks := range end.Keys {
		if ks.MaxInFlight > 1 && perKey[label] == 0 {
			t.Errorf("key %s served %d requests at once, outside the window", label, ks.MaxInFlight)
		}
	}

	// Names only in Redis, and no key value in any output.
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer c.Close()
	dump, err := redistest.Dump(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var outs strings.Builder
	for _, m := range fleet {
		outs.WriteString(m.output())
	}
	for label, v := range values {
		if strings.Contains(dump, v) {
			t.Errorf("Redis holds the value of %s", label)
		}
		if strings.Contains(outs.String(), v) {
			t.Errorf("a member printed the value of %s", label)
		}
	}
	if !strings.Contains(dump, fleetPrefix) {
		t.Errorf("Redis holds none of the fleet's keys after the run:\n%s", dump)
	}
}

// TestFleetMember is a member of TestFleetDrill's fleet. It sends requests
// from 8 goroutines until told to stop on its standard input, and on
// "hold KEY" also streams one long answer with KEY alone.
func TestFleetMember(t *testing.T) {
	if os.Getenv(roleEnv) != "member" {
		t.Skip("a member process of TestFleetDrill")
	}
	id := os.Getenv(fleetIDEnv)
	ttl, err := time.ParseDuration(os.Getenv(fleetTTLEnv))
	if err != nil {
		t.Fatal(err)
	}
	base := os.Getenv(fleetURLEnv)
	var keys []jongler.Key
	for _, p := range strings.Split(os.Getenv(fleetKeysEnv), ",") {
		name, value, _ := strings.Cut(p, "=")
		keys = append(keys, jongler.Key{Name: name, Value: value, Project: "p-" + name})
	}
	client := redis.NewClient(&redis.Options{
		Addr: os.Getenv(fleetRedisEnv), ContextTimeoutEnabled: true,
		MaxRetries: 1, DialerRetries: 1, DialTimeout: time.Second,
	})
	defer client.Close()
	store := redisstore.New(client, redisstore.WithTTL(ttl), redisstore.WithPrefix(fleetPrefix))
	newTransport := func(keys ...jongler.Key) *jongler.Transport {
		tr, err := jongler.NewTransport(jongler.ConnectorGemini,
			jongler.WithKeys(keys...),
			jongler.WithStore(store),
			jongler.WithBaseURL(base),
			jongler.WithMaxInFlight(1),
			jongler.WithMaxRetries(-1),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	tr := newTransport(keys...)

	var ok, lost, storeErr, other atomic.Int64
	var firstOther atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := generate(ctx, tr, base, fleetModel, false, nil)
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, jongler.ErrLeaseLost):
					lost.Add(1)
				case strings.Contains(err.Error(), "redisstore: "):
					storeErr.Add(1)
					time.Sleep(10 * time.Millisecond)
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "hold":
			i := slicesIndex(keys, arg)
			if i < 0 {
				t.Fatalf("no key %q", arg)
			}
			hold := newTransport(keys[i])
			wg.Go(func() {
				err := generate(context.Background(), hold, base, fleetModel, true, func() { fmt.Printf("held %s\n", arg) })
				if err != nil {
					fmt.Printf("lost %s: %v\n", arg, err)
				} else {
					fmt.Printf("done %s\n", arg)
				}
			})
		case "stop":
			close(stop)
			wg.Wait()
			fo, _ := firstOther.Load().(string)
			fmt.Printf("result %s ok=%d lost=%d store=%d other=%d first-other=%q\n", id, ok.Load(), lost.Load(), storeErr.Load(), other.Load(), fo)
			return
		}
	}
}

func slicesIndex(keys []jongler.Key, name string) int {
	for i, k := range keys {
		if k.Name == name {
			return i
		}
	}
	return -1
}
