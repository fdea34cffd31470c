package drills_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/filestore"
)

// The cross-process test runs copies of this test binary as child
// processes: TestCrossProcessChild does the child's work when roleEnv is
// "worker" or "victim", and skips otherwise.
const (
	xpIDEnv    = "JONGLER_TEST_XPROC_ID"
	xpKeysEnv  = "JONGLER_TEST_XPROC_KEYS" // name=value,name=value
	xpURLEnv   = "JONGLER_TEST_XPROC_URL"
	xpStateEnv = "JONGLER_TEST_XPROC_STATE"

	xpConnector = "xproc.test"
	xpHeader    = "X-Api-Key"
	xpChildHdr  = "X-Xproc-Child"
	xpHoldHdr   = "X-Xproc-Hold"

	// xpExhausted is the key the fake upstream always answers 429 with a
	// long Retry-After: once one process has put it in lockdown, no other
	// may use it again.
	xpExhausted = "key-e-exhausted"
)

// xpWriteConnector writes a user connector file for xpConnector and
// returns its directory. Its host is never dialed: the transports are
// pointed at the test server with WithBaseURL.
func xpWriteConnector(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	const conn = `{
    "name": "xproc.test",
    "host": "llm.xproc.invalid",
    "port": 443,
    "protocol": "https",
    "format": "json",
    "requires_api_key": true,
    "api_key_header": "x-api-key"
}
`
	if err := os.WriteFile(filepath.Join(dir, "xproc.test.json"), []byte(conn), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// xpUpstream is the fake LLM service of the cross-process test. It fails
// the test when a key is used by two requests at once, or used again once
// a process has put it in lockdown. It reports keys by name only.
type xpUpstream struct {
	t     *testing.T
	names map[string]string // key value -> key name

	held chan string // the name of the key the victim's held request uses

	mu        sync.Mutex
	inFlight  map[string][]string       // key name -> children using it now
	uses      map[string]map[string]int // key name -> child -> requests
	total     int
	refused   int       // 429 answers
	holdKey   string    // key of the held request, while counted in flight
	holdDone  bool      // the held request no longer counts
	afterHold []string  // children that used holdKey after the hold ended
	firstUse  time.Time // first use of holdKey by another after the hold
	changed   chan struct{}
}

func newXPUpstream(t *testing.T, keys map[string]string) *xpUpstream {
	u := &xpUpstream{
		t:        t,
		names:    map[string]string{},
		held:     make(chan string, 1),
		inFlight: map[string][]string{},
		uses:     map[string]map[string]int{},
		changed:  make(chan struct{}),
	}
	for name, v := range keys {
		u.names[v] = name
	}
	return u
}

// notifyLocked wakes the waiters of waitFor; u.mu is held.
func (u *xpUpstream) notifyLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// waitFor waits until cond, called with u.mu held, is true.
func (u *xpUpstream) waitFor(ctx context.Context, what string, cond func() bool) {
	u.t.Helper()
	for {
		u.mu.Lock()
		ok, ch := cond(), u.changed
		u.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			u.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (u *xpUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body first: only then does net/http notice a client that
	// goes away (the killed victim).
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	vals := r.Header.Values(xpHeader)
	name, ok := "", len(vals) == 1
	if ok {
		name, ok = u.names[vals[0]]
	}
	child := r.Header.Get(xpChildHdr)
	if !ok {
		u.t.Errorf("upstream: request from %s with %d %s headers, none a configured key", child, len(vals), xpHeader)
		http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
		return
	}
	hold := r.Header.Get(xpHoldHdr) != ""

	u.mu.Lock()
	u.total++
	if u.uses[name] == nil {
		u.uses[name] = map[string]int{}
	}
	u.uses[name][child]++
	if name == xpExhausted && u.usesLocked(name) > 1 {
		u.t.Errorf("upstream: key %s used again, by %s, after a process put it in lockdown", name, child)
	}
	u.inFlight[name] = append(u.inFlight[name], child)
	if n := len(u.inFlight[name]); n > 1 {
		u.t.Errorf("upstream: key %s used by %d requests at once (children %v)", name, n, u.inFlight[name])
	}
	if hold {
		u.holdKey = name
	}
	if u.holdDone && name == u.holdKey && !hold {
		if len(u.afterHold) == 0 {
			u.firstUse = time.Now()
		}
		u.afterHold = append(u.afterHold, child)
	}
	u.notifyLocked()
	u.mu.Unlock()

	if hold {
		// Keep the key leased by the victim until the victim dies; the
		// parent ends its count (forgetHold) before killing it.
		u.held <- name
		<-r.Context().Done()
		return
	}

	// Some upstream latency, so that requests overlap if leases let them.
	time.Sleep(time.Duration(mrand.IntN(1500)) * time.Microsecond)

	// The request stops counting before its answer is written: the client
	// ends its lease only once it has read the answer, and another
	// process may use the key at once after that.
	u.mu.Lock()
	u.endLocked(name, child)
	refuse := name == xpExhausted
	if refuse {
		u.refused++
	}
	u.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if refuse {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":429,"message":"quota exhausted","status":"RESOURCE_EXHAUSTED"}}`)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

// usesLocked counts the requests sent with key name.
func (u *xpUpstream) usesLocked(name string) int {
	n := 0
	for _, k := range u.uses[name] {
		n += k
	}
	return n
}

func (u *xpUpstream) endLocked(name, child string) {
	l := u.inFlight[name]
	if i := slices.Index(l, child); i >= 0 {
		u.inFlight[name] = slices.Delete(l, i, i+1)
	}
}

// forgetHold stops counting the victim's held request. It must be called
// while the victim still holds the key, before it is killed: once the
// kernel frees the lease, another process may use the key before this
// server notices that the victim's connection is gone.
func (u *xpUpstream) forgetHold(victim string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.endLocked(u.holdKey, victim)
	u.holdDone = true
}

// xpChild is a child process of the cross-process test.
type xpChild struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer

	waitOnce sync.Once
	waitErr  error
}

func (c *xpChild) wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// startXPChild starts this test binary as a child in role.
func startXPChild(t *testing.T, role, id string, env []string) *xpChild {
	t.Helper()
	c := &xpChild{id: id}
	// The context kills the child if the test ends early.
	c.cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrossProcessChild$", "-test.count=1", "-test.timeout=60s")
	c.cmd.Env = append(os.Environ(), append(env, roleEnv+"="+role, xpIDEnv+"="+id)...)
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	c.cmd.WaitDelay = 5 * time.Second
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		c.wait()
	})
	return c
}

// TestCrossProcess runs worker processes and a victim process, all leasing
// the same keys from one state directory with at most one request per key
// at a time. It checks that no key is ever used by two requests at once,
// that a lockdown one process records is honoured by the others, and that
// the key a SIGKILLed process held is leasable again once it has rested
// filestore.DeadHolderRest (its request may still be in flight upstream).
func TestCrossProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second)
	defer cancel()

	keys := map[string]string{}
	for _, n := range []string{"key-a", "key-b", "key-c", "key-d", xpExhausted} {
		keys[n] = secret("sk-unique-", n)
	}
	up := newXPUpstream(t, keys)
	srv := httptest.NewServer(up)
	// A cleanup, not a defer: it must run after the children are killed,
	// or a held request would keep Close waiting.
	t.Cleanup(srv.Close)

	stateDir := t.TempDir()
	connDir := xpWriteConnector(t)
	var pairs []string
	for n, v := range keys {
		pairs = append(pairs, n+"="+v)
	}
	env := []string{
		xpKeysEnv + "=" + strings.Join(pairs, ","),
		xpURLEnv + "=" + srv.URL,
		xpStateEnv + "=" + stateDir,
		jongler.ConnectorsDirEnv + "=" + connDir,
	}

	const workers = 3
	var children []*xpChild
	for i := range workers {
		children = append(children, startXPChild(t, "worker", "worker-"+strconv.Itoa(i), env))
	}
	victim := startXPChild(t, "victim", "victim", env)

	// The victim sends its traffic, then one request the upstream holds.
	var heldKey string
	select {
	case heldKey = <-up.held:
	case <-ctx.Done():
		victim.stdin.Close()
		victim.wait()
		t.Fatalf("the victim's held request never arrived; victim output:\n%s", victim.out.String())
	}
	t.Logf("the victim holds %s", heldKey)

	// Transports of this process, on the same state directory: one with
	// every key, one with the held key alone.
	opts := func(keys map[string]string) []jongler.Option {
		return []jongler.Option{
			jongler.WithKeys(keyList(keys)...),
			jongler.WithStateDir(stateDir),
			jongler.WithConnectorsDir(connDir),
			jongler.WithBaseURL(srv.URL),
			jongler.WithMaxInFlight(1),
		}
	}
	all, err := jongler.NewTransport(xpConnector, opts(keys)...)
	if err != nil {
		t.Fatal(err)
	}
	defer all.CloseIdleConnections()
	one, err := jongler.NewTransport(xpConnector, opts(map[string]string{heldKey: keys[heldKey]})...)
	if err != nil {
		t.Fatal(err)
	}
	defer one.CloseIdleConnections()

	ks, err := all.KeyStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := ks.Keys[heldKey]; d.State != jongler.StateLocked || d.InFlight != 1 {
		t.Errorf("while the victim holds %s: state %s, in flight %d; want LOCKED, 1", heldKey, d.State, d.InFlight)
	}

	// Nobody else gets the held key while the victim lives, not even a
	// transport that has no other key.
	probeCtx, probeCancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = xpSend(probeCtx, one, srv.URL, "parent", false)
	probeCancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request with only the held key while the victim holds it: err %v; want a deadline exceeded waiting for the lease", err)
	}

	// The workers go on with the other keys meanwhile.
	up.mu.Lock()
	base := up.total
	up.mu.Unlock()
	up.waitFor(ctx, "the workers' requests during the hold", func() bool { return up.total >= base+60 })

	// Kill the victim mid-request.
	up.forgetHold(victim.id)
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = victim.wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("victim: %v; want killed by SIGKILL; output:\n%s", err, victim.out.String())
	}

	// The workers lease the dead process's key once it has rested, and
	// not before: the dead process's request could still be in flight
	// upstream, as far as they know.
	waitCtx, waitCancel := context.WithTimeout(ctx, filestore.DeadHolderRest+time.Second)
	up.waitFor(waitCtx, "a worker to use "+heldKey+" after the victim's death", func() bool { return len(up.afterHold) > 0 })
	waitCancel()
	up.mu.Lock()
	reused := up.firstUse.Sub(killed)
	up.mu.Unlock()
	t.Logf("%s used by another process %v after SIGKILL", heldKey, reused.Round(time.Microsecond))
	if reused < filestore.DeadHolderRest {
		t.Errorf("%s used again %v after its holder was killed; want it to rest %v first", heldKey, reused, filestore.DeadHolderRest)
	}

	// Stop the workers: they stop when their standard input closes.
	for _, c := range children {
		c.stdin.Close()
	}
	requests := 0
	for _, c := range children {
		err := c.wait()
		out := c.out.String()
		if err != nil {
			t.Errorf("%s: %v; output:\n%s", c.id, err, out)
		}
		n := xpCount(out)
		if n == 0 {
			t.Errorf("%s sent no request; output:\n%s", c.id, out)
		}
		requests += n
	}

	// And this process gets the key at once too.
	began := time.Now()
	if _, err := xpSend(ctx, one, srv.URL, "parent", false); err != nil {
		t.Fatalf("request with %s after the victim's death: %v", heldKey, err)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Errorf("request with %s after the victim's death took %v; want it at once", heldKey, d)
	}

	ks, err = all.KeyStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"key-a", "key-b", "key-c", "key-d"}; !slices.Equal(ks.Vacant, want) || !slices.Equal(ks.Lockdown, []string{xpExhausted}) {
		t.Errorf("key states at the end: vacant %v, lockdown %v; want vacant %v, lockdown [%s]", ks.Vacant, ks.Lockdown, want, xpExhausted)
	}

	up.mu.Lock()
	defer up.mu.Unlock()
	if up.refused != 1 {
		t.Errorf("the exhausted key was answered 429 %d times; want once, then left alone by every process", up.refused)
	}
	if up.uses[heldKey]["parent"] != 1 {
		t.Errorf("%s was used %d times by the parent; want once", heldKey, up.uses[heldKey]["parent"])
	}
	for name := range keys {
		if len(up.uses[name]) == 0 {
			t.Errorf("key %s was never used", name)
		}
	}

	// No key value in any output; the lockdown was logged, by name.
	var outs strings.Builder
	for _, c := range append(children, victim) {
		outs.WriteString(c.out.String())
	}
	if strings.Contains(outs.String(), "sk-unique") {
		t.Errorf("a key value appears in a child's output")
	}
	if !strings.Contains(outs.String(), "key in lockdown") || !strings.Contains(outs.String(), xpExhausted) {
		t.Errorf("no child logged the lockdown of %s; output:\n%s", xpExhausted, outs.String())
	}
	t.Logf("%d worker requests, %d upstream requests in all, %v", requests, up.total, time.Since(start).Round(time.Millisecond))
}

// xpCount reads the "requests=N" line a child prints.
func xpCount(out string) int {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "requests="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// xpSend posts one request through rt and checks its answer.
func xpSend(ctx context.Context, rt http.RoundTripper, base, child string, hold bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat", strings.NewReader(`{"prompt":"hi"}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(xpChildHdr, child)
	if hold {
		req.Header.Set(xpHoldHdr, "1")
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK || string(body) != `{"ok":true}` {
		return resp.StatusCode, fmt.Errorf("answer %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode, nil
}

// TestCrossProcessChild is the child process of TestCrossProcess.
func TestCrossProcessChild(t *testing.T) {
	role := os.Getenv(roleEnv)
	if role == "" {
		t.Skip("child process of TestCrossProcess")
	}
	id := os.Getenv(xpIDEnv)
	keys := map[string]string{}
	for _, p := range strings.Split(os.Getenv(xpKeysEnv), ",") {
		name, value, _ := strings.Cut(p, "=")
		keys[name] = value
	}
	base := os.Getenv(xpURLEnv)
	// Lockdowns are logged (by key name) to standard error, which the
	// parent reads.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tr, err := jongler.NewTransport(xpConnector,
		jongler.WithKeys(keyList(keys)...),
		jongler.WithStateDir(os.Getenv(xpStateEnv)),
		jongler.WithBaseURL(base),
		jongler.WithMaxInFlight(1),
		jongler.WithLogger(logger),
	)
	if err != nil {
		t.Fatal(err)
	}

	// The parent closes our standard input to stop us; a deadline stops us
	// in any case.
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	deadline := time.After(10 * time.Second)

	var sent atomic.Int64
	run := func(goroutines, each int) {
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for i := 0; each <= 0 || i < each; i++ {
					select {
					case <-stop:
						return
					case <-deadline:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := xpSend(ctx, tr, base, id, false)
					cancel()
					if err != nil {
						t.Errorf("%s: %v", id, err)
						return
					}
					sent.Add(1)
				}
			})
		}
		wg.Wait()
	}

	switch role {
	case "worker":
		run(6, 0)
	case "victim":
		run(4, 10)
		// Then one request that the upstream holds until we are killed.
		_, err := xpSend(context.Background(), tr, base, id, true)
		t.Errorf("the held request returned: %v", err)
	default:
		t.Fatalf("unknown role %q", role)
	}
	fmt.Printf("requests=%d\n", sent.Load())
}
