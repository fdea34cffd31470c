package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/transporttest"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
)

// The tests below run `apijongler serve` as its own process: the
// apijongler command that testscript.Main puts in $PATH (this test binary
// under that name, running main's run), against a jonglertest server.

const (
	serveToken = "serve-token-0c7d2f9e"
	serveModel = "gemini-2.5-flash"
	serveGen   = "/v1beta/models/" + serveModel + ":generateContent"
	serveBody  = `{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}`
)

// serveEnv is the files and environment of a serve test: a jonglertest
// server, a connector testgemini pointing at it, an INI file with its keys,
// a state directory.
type serveEnv struct {
	t    *testing.T
	srv  *jonglertest.Server
	keys []jonglertest.Key
	dir  string
	env  []string
}

func newServeEnv(t *testing.T, cfg jonglertest.Config, nkeys int) *serveEnv {
	t.Helper()
	for i := range nkeys {
		cfg.Keys = append(cfg.Keys, jonglertest.Key{Label: fmt.Sprintf("key%d", i+1), Value: fmt.Sprintf("testkey-%d-%x", i+1, time.Now().UnixNano())})
	}
	if cfg.Models == nil {
		cfg.Models = map[string]jonglertest.Quota{serveModel: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}}
	}
	srv := jonglertest.NewServer(cfg)
	t.Cleanup(srv.Close)
	e := &serveEnv{t: t, srv: srv, keys: cfg.Keys, dir: t.TempDir()}
	conns := filepath.Join(e.dir, "connectors")
	os.MkdirAll(conns, 0o755)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	c := fmt.Sprintf(`{"name": "testgemini", "host": "127.0.0.1", "port": %s, "protocol": "http", "format": "json",
"requires_api_key": true, "api_key_header": "x-goog-api-key", "api_key_query": "key", "policy": "gemini"}`, port)
	if err := os.WriteFile(filepath.Join(conns, "testgemini.json"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	e.writeINI(cfg.Keys)
	e.env = append(os.Environ(),
		jongler.ConfigEnv+"="+filepath.Join(e.dir, "keys.ini"),
		jongler.ConnectorsDirEnv+"="+conns,
		jongler.StateDirEnv+"="+filepath.Join(e.dir, "state"),
		jongler.TorEnv+"=",
		listenEnv+"=", tokensEnv+"=",
	)
	return e
}

func (e *serveEnv) writeINI(keys []jonglertest.Key) {
	var b strings.Builder
	b.WriteString("[testgemini]\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k.Label, k.Value)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "keys.ini"), []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// secrets fails if text holds a key value or the token.
func (e *serveEnv) noSecrets(what, text string) {
	e.t.Helper()
	for _, k := range e.keys {
		if strings.Contains(text, k.Value) {
			e.t.Errorf("%s holds the value of %s", what, k.Label)
		}
	}
	if strings.Contains(text, serveToken) {
		e.t.Errorf("%s holds the token", what)
	}
}

// statusJSON runs `apijongler status testgemini --json` in the test's
// environment and returns what it prints.
func (e *serveEnv) statusJSON() (string, error) {
	cmd := exec.Command("apijongler", "status", "testgemini", "--json")
	cmd.Env = e.env
	out, err := cmd.Output()
	return string(out), err
}

// serveProc is a running `apijongler serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	stdout *lockedBuffer
	done   chan struct{}
	err    error
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer = transporttest.Buffer

var listeningRE = regexp.MustCompile(`^listening on (http://127\.0\.0\.1:[0-9]+)\n$`)

// startServe starts `apijongler serve args...` and waits for its first
// line.
func (e *serveEnv) start(extraEnv []string, args ...string) *serveProc {
	e.t.Helper()
	bin, err := exec.LookPath("apijongler")
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(append([]string(nil), e.env...), extraEnv...)
	p := &serveProc{cmd: cmd, stderr: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		p.stdout.Write([]byte(line))
		first <- line
		io.Copy(p.stdout, br)
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case line := <-first:
		m := listeningRE.FindStringSubmatch(line)
		if m == nil {
			<-p.done
			e.t.Fatalf("first line %q, want \"listening on http://HOST:PORT\"; stderr:\n%s", line, p.stderr)
		}
		p.url = m[1]
	case <-time.After(60 * time.Second):
		e.t.Fatalf("serve did not start; stderr:\n%s", p.stderr)
	}
	return p
}

// stop sends sig and waits for the exit.
func (p *serveProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit after %v; stderr:\n%s", sig, p.stderr)
	}
	if p.err != nil {
		t.Fatalf("serve exited with %v; stderr:\n%s", p.err, p.stderr)
	}
}

// call sends a request to the proxy with tok in x-goog-api-key.
func call(t *testing.T, method, url, tok, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	if tok != "" {
		req.Header.Set("x-goog-api-key", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

// startStream asks serve at url for a streamed answer and returns its
// body, closed when the test ends.
func startStream(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1beta/models/"+serveModel+":streamGenerateContent?alt=sse", strings.NewReader(serveBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body)
}

// target is where a worker of generateFrom sends its requests: a serve
// process's URL with http.DefaultClient, or a transport's BaseURL with a
// client of the transport.
type target struct {
	client *http.Client
	url    string
}

// generateFrom runs a worker per target at once, each sending n generate
// requests one after another, and fails t for a worker's first error or
// answer other than 200 (the worker stops there).
func generateFrom(t *testing.T, n int, targets ...target) {
	t.Helper()
	var wg sync.WaitGroup
	for _, to := range targets {
		wg.Go(func() {
			for range n {
				req, _ := http.NewRequest("POST", to.url+serveGen, strings.NewReader(serveBody))
				req.Header.Set("x-goog-api-key", "placeholder")
				resp, err := to.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("%s: %d", to.url, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestServe(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken, "--log-format", "json")

	code, body, _ := call(t, "POST", p.url+"/testgemini"+serveGen, serveToken, serveBody)
	if code != 200 || !strings.Contains(body, "Hello") {
		t.Fatalf("generate: %d %s", code, body)
	}
	code, body, _ = call(t, "POST", p.url+serveGen+"?key="+serveToken, "", serveBody)
	if code != 200 {
		t.Fatalf("generate at / with key=: %d %s", code, body)
	}
	code, body, _ = call(t, "POST", p.url+serveGen, "wrong", serveBody)
	if code != 401 || !strings.Contains(body, `"UNAUTHENTICATED"`) {
		t.Fatalf("wrong token: %d %s", code, body)
	}
	if code, body, _ = call(t, "GET", p.url+"/healthz", "", ""); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body, _ = call(t, "GET", p.url+"/readyz", "", ""); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _, _ = call(t, "GET", p.url+"/status", "", ""); code != 401 {
		t.Fatalf("/status without the token: %d", code)
	}
	code, status, _ := call(t, "GET", p.url+"/status", serveToken, "")
	if code != 200 {
		t.Fatalf("/status: %d %s", code, status)
	}
	// The same JSON as `apijongler status --json`.
	out, err := e.statusJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, status, out) {
		t.Fatalf("/status:\n%s\nstatus --json:\n%s", status, out)
	}
	if code, _, _ = call(t, "GET", p.url+"/metrics", "", ""); code != 401 {
		t.Fatalf("/metrics without the token: %d", code)
	}
	code, metrics, _ := call(t, "GET", p.url+"/metrics", serveToken, "")
	if code != 200 || !strings.Contains(metrics, `jongler_requests_total{`) || !strings.Contains(metrics, `key="key1"`) {
		t.Fatalf("/metrics: %d\n%s", code, metrics)
	}
	e.noSecrets("/metrics", metrics)
	p.stop(t, syscall.SIGTERM)

	st := e.srv.Stats()
	if st.Successes != 2 || st.Failed != 0 || st.Requests != 2 {
		t.Fatalf("upstream counts %+v: want 2 successes, no failure (a token sent upstream fails)", st.Counts)
	}
	e.noSecrets("stdout", p.stdout.String())
	e.noSecrets("stderr", p.stderr.String())
	e.noSecrets("/status", status)
	logs := p.stderr.String()
	if n := strings.Count(logs, `"msg":"request"`); n != 3 {
		t.Fatalf("%d access log lines, want 3:\n%s", n, logs)
	}
	for _, want := range []string{`"status":200`, `"key":"key1"`, `"attempts":1`, `"model":"gemini-2.5-flash"`, `key=REDACTED`, `"status":401`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	// recovers_in_seconds differs by the time between the two reads.
	return fmt.Sprint(va) == fmt.Sprint(vb)
}

// TestServeStatusLearned: a quota learned from the upstream's 429 shows in
// /status as in `status --json`, under the same field.
func TestServeStatusLearned(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{Models: map[string]jonglertest.Quota{serveModel: {RPM: jonglertest.Unlimited, RPD: 1}}}, 2)
	for _, k := range e.keys { // each key's day is spent elsewhere
		req, _ := http.NewRequest("POST", e.srv.URL+serveGen, strings.NewReader(serveBody))
		req.Header.Set("x-goog-api-key", k.Value)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	p := e.start(nil, "--listen", "127.0.0.1:0")
	if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code == 200 {
		t.Fatalf("generate with every key's day spent: %d %s", code, body)
	}
	_, status, _ := call(t, "GET", p.url+"/status", "", "")
	p.stop(t, syscall.SIGTERM)
	out, err := e.statusJSON()
	if err != nil {
		t.Fatal(err)
	}
	learned := func(what, text string) []learnedStatus {
		t.Helper()
		var rows []struct {
			Key     string          `json:"key"`
			Learned []learnedStatus `json:"learned_quotas"`
		}
		if err := json.Unmarshal([]byte(text), &rows); err != nil || len(rows) != 2 {
			t.Fatalf("%s: %v, %d rows, want 2:\n%s", what, err, len(rows), text)
		}
		for _, r := range rows {
			if len(r.Learned) != 1 {
				t.Fatalf("%s: %s has %d learned quotas, want 1:\n%s", what, r.Key, len(r.Learned), text)
			}
			if l := r.Learned[0]; l.Model != serveModel || l.Window != "day" || l.Limit != 1 || l.At.IsZero() || l.From == "" {
				t.Fatalf("%s: %s learned %+v, want %s 1/day, when and from what", what, r.Key, l, serveModel)
			}
		}
		return rows[0].Learned
	}
	if a, b := learned("/status", status), learned("status --json", out); !a[0].At.Equal(b[0].At) || a[0] != b[0] {
		t.Fatalf("/status learned %+v, status --json %+v", a, b)
	}
	e.noSecrets("/status", status)
}

// TestServeRefusesPublicWithoutToken: exit 2, and a clear message.
func TestServeRefusesPublicWithoutToken(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	cmd := exec.Command("apijongler", "serve", "--listen", "0.0.0.0:0")
	cmd.Env = e.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), "refusing to listen on 0.0.0.0:0 without a token") {
		t.Fatalf("err %v, stderr %q: want exit 2 refusing", err, stderr.String())
	}
}

// TestServeEnvKeys: keys from APIJONGLER_KEYS_<CONNECTOR>, no INI file.
func TestServeEnvKeys(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	os.Remove(filepath.Join(e.dir, "keys.ini"))
	env := []string{jongler.ConfigEnv + "=", fmt.Sprintf("APIJONGLER_KEYS_TESTGEMINI=%s=%s, %s=%s", e.keys[0].Label, e.keys[0].Value, e.keys[1].Label, e.keys[1].Value)}
	p := e.start(env, "testgemini", "--listen", "127.0.0.1:0")
	for range 2 {
		if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	code, status, _ := call(t, "GET", p.url+"/status", "", "")
	if code != 200 || !strings.Contains(status, `"key": "key1"`) || !strings.Contains(status, `"key": "key2"`) {
		t.Fatalf("/status: %d %s", code, status)
	}
	p.stop(t, os.Interrupt)
	e.noSecrets("stderr", p.stderr.String())
}

// TestServeGracefulShutdown: a stream in flight when SIGTERM arrives
// completes, and the process exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{StreamChunks: 5, StreamGap: 300 * time.Millisecond}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0")
	br := startStream(t, p.url)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream cut at shutdown: %v", err)
	}
	if n := strings.Count(string(rest), "data: "); n != 4 {
		t.Fatalf("%d more events after SIGTERM, want 4:\n%s", n, rest)
	}
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
	if st := e.srv.Stats(); st.Successes != 1 || st.Canceled != 0 {
		t.Fatalf("upstream %+v, want the stream complete", st.Counts)
	}
	// No lease outlives the process.
	out, err := e.statusJSON()
	if err != nil || !strings.Contains(out, `"in_flight": 0`) || strings.Contains(out, `"in_flight": 1`) {
		t.Fatalf("status after shutdown: %v\n%s", err, out)
	}
}

// TestServeReload: SIGHUP reads the INI file again; a stream in flight
// finishes with its key.
func TestServeReload(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{StreamChunks: 4, StreamGap: 200 * time.Millisecond}, 2)
	all := e.keys
	e.writeINI(all[:1])
	p := e.start(nil, "--listen", "127.0.0.1:0")
	br := startStream(t, p.url)
	br.ReadString('\n')

	e.writeINI(all[1:])
	p.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(p.stderr.String(), "msg=reloaded") {
		select {
		case <-p.done:
			t.Fatalf("serve exited on SIGHUP:\n%s", p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	rest, err := io.ReadAll(br)
	if err != nil || strings.Count(string(rest), "data: ") != 3 {
		t.Fatalf("stream across the reload: %v\n%s", err, rest)
	}
	// Now only key2 serves.
	if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	_, status, _ := call(t, "GET", p.url+"/status", "", "")
	if strings.Contains(status, `"key1"`) || !strings.Contains(status, `"key2"`) {
		t.Fatalf("/status after reload: %s", status)
	}
	p.stop(t, syscall.SIGTERM)
	st := e.srv.Stats()
	if st.Keys["key1"].Successes != 1 || st.Keys["key2"].Successes != 1 {
		t.Fatalf("upstream by key: key1 %+v key2 %+v", st.Keys["key1"].Counts, st.Keys["key2"].Counts)
	}
}

// TestServeCrossProcess: two serve processes and this one, using the
// library, share one state directory against one jonglertest: no key is
// ever used by two requests at once.
func TestServeCrossProcess(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{Latency: 3 * time.Millisecond, StreamGap: -1}, 3)
	p1 := e.start(nil, "--listen", "127.0.0.1:0")
	p2 := e.start(nil, "--listen", "127.0.0.1:0")
	var keys []jongler.Key
	for _, k := range e.keys {
		keys = append(keys, jongler.Key{Name: k.Label, Value: k.Value})
	}
	dir := filepath.Join(e.dir, "state")
	lib, err := jongler.NewTransport("testgemini", jongler.WithKeys(keys...), jongler.WithStateDir(dir),
		jongler.WithConnectorsDir(filepath.Join(e.dir, "connectors")))
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	libClient := &http.Client{Transport: lib}
	const perWorker = 8
	var targets []target
	for range 3 {
		targets = append(targets, target{http.DefaultClient, p1.url}, target{http.DefaultClient, p2.url}, target{libClient, lib.BaseURL()})
	}
	generateFrom(t, perWorker, targets...)
	p1.stop(t, syscall.SIGTERM)
	p2.stop(t, syscall.SIGTERM)
	st := e.srv.Stats()
	if st.Successes != 9*perWorker || st.Overlaps != 0 {
		t.Fatalf("upstream %+v, overlaps %d: want %d successes and no key used twice at once", st.Counts, st.Overlaps, 9*perWorker)
	}
	for _, k := range e.keys {
		if st.Keys[k.Label].MaxInFlight > 1 {
			t.Fatalf("%s was in flight %d times at once", k.Label, st.Keys[k.Label].MaxInFlight)
		}
	}
}

// TestREADMECurl runs the README's curl line, as written but for the port,
// against `apijongler serve` serving one connector with keys.
func TestREADMECurl(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- serve-curl")
	if !ok {
		t.Fatal("README.md has no serve-curl marker")
	}
	var line string
	for _, l := range strings.Split(after, "\n") {
		if strings.HasPrefix(l, "curl ") {
			line = l
			break
		}
	}
	const addr = "http://127.0.0.1:8787"
	if !strings.Contains(line, addr) {
		t.Fatalf("README's curl line %q does not name %s", line, addr)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed")
	}
	e := newServeEnv(t, jonglertest.Config{}, 2)
	p := e.start(nil, "--listen", "127.0.0.1:0")
	cmd := exec.Command("sh", "-c", strings.Replace(line, addr, p.url, 1))
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(curl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"candidates"`) || !strings.Contains(string(out), "Hello") {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	p.stop(t, syscall.SIGTERM)
}

// TestServeRedisStore: two serve processes with state directories of
// their own share leases through --store redis://: no key is used twice at
// once, and /status shows the Redis store's states.
func TestServeRedisStore(t *testing.T) {
	rs := redistest.Start(t)
	e := newServeEnv(t, jonglertest.Config{Latency: 3 * time.Millisecond, StreamGap: -1}, 2)
	p1 := e.start([]string{jongler.StateDirEnv + "=" + t.TempDir()}, "--listen", "127.0.0.1:0", "--store", rs.URL())
	p2 := e.start([]string{jongler.StateDirEnv + "=" + t.TempDir()}, "--listen", "127.0.0.1:0", "--store", rs.URL())
	const perWorker = 6
	to1, to2 := target{http.DefaultClient, p1.url}, target{http.DefaultClient, p2.url}
	generateFrom(t, perWorker, to1, to2, to1, to2)
	p1.stop(t, syscall.SIGTERM)
	p2.stop(t, syscall.SIGTERM)
	st := e.srv.Stats()
	if st.Successes != 4*perWorker || st.Overlaps != 0 {
		t.Fatalf("upstream %+v, overlaps %d: want %d successes, no key used twice at once", st.Counts, st.Overlaps, 4*perWorker)
	}
	if !strings.Contains(p1.stderr.String(), "store=redis://") {
		t.Errorf("serve does not say it uses the Redis store:\n%s", p1.stderr)
	}
}

// TestServeReadyzTokens: with tokens, /readyz tells a probe without one
// only whether serve is ready (its status, and "ready"), never which
// connector or keys are not; a token holder gets why.
func TestServeReadyzTokens(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{
		Models: map[string]jonglertest.Quota{serveModel: {RPM: 1, RPD: jonglertest.Unlimited}},
		Start:  time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		Minute: time.Hour, // the minute's quota stays spent while the test runs
	}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	for range 2 { // the second one spends the only key's minute
		call(t, "POST", p.url+serveGen, serveToken, serveBody)
	}
	code, body, hdr := call(t, "GET", p.url+"/readyz", "", "")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"ready":false}` || hdr.Get("Retry-After") != "" {
		t.Errorf("/readyz without the token: %d %s, Retry-After %q; want 503 {\"ready\":false} alone", code, body, hdr.Get("Retry-After"))
	}
	code, body, hdr = call(t, "GET", p.url+"/readyz", serveToken, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"testgemini":"every key is cooling down`) {
		t.Errorf("/readyz with the token: %d %s; want 503 and why", code, body)
	}
	if !strings.Contains(body, "; one is back within ") || hdr.Get("Retry-After") == "" {
		t.Errorf("/readyz with the token: %s, Retry-After %q; want when a key is back", body, hdr.Get("Retry-After"))
	}
	code, body, _ = call(t, "GET", p.url+"/nowhere", "", "")
	if code != http.StatusUnauthorized || strings.Contains(body, "testgemini") {
		t.Errorf("a path naming no connector, without the token: %d %s; want 401 without the prefixes", code, body)
	}
	p.stop(t, syscall.SIGTERM)
}

// TestServeMetricsScrubbed: a client that names its token as the model
// does not put it in /metrics or /status, which other token holders read.
func TestServeMetricsScrubbed(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken, "--token", "other-token-8c1f")
	call(t, "POST", p.url+"/v1beta/models/"+serveToken+":generateContent", serveToken, serveBody)
	call(t, "POST", p.url+"/v1beta/openai/chat/completions", serveToken, `{"model":"`+serveToken+`","messages":[]}`)
	for _, path := range []string{"/metrics", "/status"} {
		code, body, _ := call(t, "GET", p.url+path, "other-token-8c1f", "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		e.noSecrets(path, body)
	}
	code, body, _ := call(t, "GET", p.url+"/metrics", "other-token-8c1f", "")
	if code != 200 || !strings.Contains(body, `model="[redacted]"`) {
		t.Errorf("/metrics: %d, no model=\"[redacted]\":\n%s", code, body)
	}
	p.stop(t, syscall.SIGTERM)
}
