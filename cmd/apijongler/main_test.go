package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/testmain"
	"github.com/api-jongler/jongler/jonglertest"
)

// The scripts in testdata/script run the real apijongler binary (this test
// binary, which runs main's run when called by that name) against a
// jonglertest server started by the test, through user connector files.
//
// Commands besides testscript's own:
//
//	aj ARGS...                   run apijongler; fail if stdout or stderr
//	                             holds any test key value or a part of one
//	code N                       the last aj exited with code N
//	took DURATION                the last aj took less than DURATION
//	jserver start [-rpm N] [-rpd N]
//	                             start a server for the test keys (model
//	                             gemini-2.5-flash with these quotas) and
//	                             write the connectors testgemini and
//	                             testgemini2 that point at it
//	jserver use LABEL N          spend N requests of key LABEL directly
//	jserver echo                 start a server that echoes each request's
//	                             headers and query back (and sets a cookie
//	                             and X-Echo-Key, the key it got), write the
//	                             connector echo that points at it, and set
//	                             $ECHO_URL
//	jserver hang                 start a server that holds every request
//	                             until the client goes, and write the
//	                             connector hang
//	jserver sse N                start a server that streams N server-sent
//	                             events {"n":I,"text":"event I"}, each only
//	                             when ajstream lets it go, and write the
//	                             connector sse
//	ajstream ARGS...             run apijongler against jserver sse: let
//	                             event I go only once the output of event
//	                             I-1 has been printed, pretty (fails if it
//	                             is not within a minute)
//	ajsignal SIGNAL ARGS...      run apijongler, send it SIGNAL (INT or
//	                             TERM) once jserver hang holds its request
//	jstats LABEL|total FIELD N   the server counted N (FIELD: requests,
//	                             successes, ratelimited, failed)
//	keystate CONNECTOR KEY STATE the last `status --json` shows KEY in STATE
//	nosecrets DIR                no file under DIR holds a test key value
//
// Setup writes $WORK/keys.ini with random key values for key1 and key2 of
// the three connectors, and points APIJONGLER_CONFIG, APIJONGLER_CONNECTORS and
// APIJONGLER_STATE_DIR into $WORK. Scripts that need a key value of their
// own write one starting with "lit-secret-"; aj fails if that prefix is
// ever printed.

func TestMain(m *testing.M) {
	testscript.Main(leakCheck{m}, map[string]func(){
		"apijongler": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// leakCheck runs the tests, then fails them if goroutines outlive them, as
// goleak.VerifyTestMain does; testscript.Main wants the tests' m, not an
// exit, so testmain.Run is called by hand.
type leakCheck struct{ m *testing.M }

func (l leakCheck) Run() int {
	return testmain.Run(l.m,
		// Started at init by a dependency of the genai SDK, for good.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func TestScripts(t *testing.T) {
	rs := startRedis(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		// [redis]: the scripts' Redis runs (see startRedis).
		Condition: func(cond string) (bool, error) {
			if cond == "redis" {
				return rs != nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			return rs.setup(env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"aj":        cmdAJ,
			"code":      cmdCode,
			"took":      cmdTook,
			"jserver":   cmdServer,
			"jstats":    cmdStats,
			"keystate":  cmdKeyState,
			"nosecrets": cmdNoSecrets,
			"redisscan": rs.cmdScan,
			"ajstream":  cmdAJStream,
			"ajsignal":  cmdAJSignal,
		},
	})
}

// litSecret starts the key values that scripts write themselves.
const litSecret = "lit-secret-"

// harness is one script's state.
type harness struct {
	keys     map[string]string // label to value
	srv      *jonglertest.Server
	echo     *httptest.Server
	hang     *httptest.Server
	held     chan struct{} // a request reached hang
	sse      *httptest.Server
	release  chan struct{} // lets the next event of sse go
	lastCode int
	lastTook time.Duration
}

type harnessKey struct{}

func setup(env *testscript.Env) error {
	h := &harness{keys: map[string]string{}}
	env.Values[harnessKey{}] = h
	env.Defer(func() {
		if h.srv != nil {
			h.srv.Close()
		}
		for _, s := range []*httptest.Server{h.echo, h.hang, h.sse} {
			if s != nil {
				s.CloseClientConnections()
				s.Close()
			}
		}
	})
	var ini strings.Builder
	for _, label := range []string{"key1", "key2"} {
		h.keys[label] = "testkey-" + rand.Text()
	}
	for _, conn := range []string{"testgemini", "testgemini2", "echo"} {
		fmt.Fprintf(&ini, "[%s]\n", conn)
		for _, label := range []string{"key1", "key2"} {
			fmt.Fprintf(&ini, "%s = %s\n", label, h.keys[label])
		}
		ini.WriteString("\n")
	}
	work := env.WorkDir
	if err := os.WriteFile(filepath.Join(work, "keys.ini"), []byte(ini.String()), 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(work, "connectors"), 0o755); err != nil {
		return err
	}
	env.Setenv(jongler.ConfigEnv, filepath.Join(work, "keys.ini"))
	env.Setenv(jongler.ConnectorsDirEnv, filepath.Join(work, "connectors"))
	env.Setenv(jongler.StateDirEnv, filepath.Join(work, "state"))
	env.Setenv(jongler.TorEnv, "")
	return nil
}

func getHarness(ts *testscript.TestScript) *harness {
	return ts.Value(harnessKey{}).(*harness)
}

// leaks returns a description of the first test secret, or part of one,
// in text; "" when there is none.
func (h *harness) leaks(text string) string {
	if strings.Contains(text, litSecret) {
		return "a " + litSecret + " value"
	}
	for label, v := range h.keys {
		// Any 8 characters of the random part give the key away.
		random := strings.TrimPrefix(v, "testkey-")
		for i := 0; i+8 <= len(random); i++ {
			if strings.Contains(text, random[i:i+8]) {
				return fmt.Sprintf("part of the value of %s", label)
			}
		}
	}
	return ""
}

func cmdAJ(ts *testscript.TestScript, neg bool, args []string) {
	h := getHarness(ts)
	start := time.Now()
	err := ts.Exec("apijongler", args...)
	h.lastTook = time.Since(start)
	h.lastCode = 0
	if err != nil {
		ee, ok := err.(interface{ ExitCode() int })
		if !ok {
			ts.Fatalf("apijongler: %v", err)
		}
		h.lastCode = ee.ExitCode()
	}
	for _, f := range []string{"stdout", "stderr"} {
		if what := h.leaks(ts.ReadFile(f)); what != "" {
			ts.Fatalf("apijongler printed %s on %s", what, f)
		}
	}
	if neg && h.lastCode == 0 {
		ts.Fatalf("apijongler succeeded unexpectedly")
	}
	if !neg && h.lastCode != 0 {
		ts.Fatalf("apijongler failed: exit code %d", h.lastCode)
	}
}

// startAJ starts apijongler as a process of its own, in the script's
// directory and environment, its stdout a pipe.
func startAJ(ts *testscript.TestScript, args []string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	bin := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, "apijongler"); fileExists(p) {
			bin = p
			break
		}
	}
	if bin == "" {
		ts.Fatalf("no apijongler in $PATH")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = ts.MkAbs(".")
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "WORK", jongler.ConfigEnv, jongler.ConnectorsDirEnv, jongler.StateDirEnv, jongler.TorEnv} {
		cmd.Env = append(cmd.Env, name+"="+ts.Getenv(name))
	}
	stdout, err := cmd.StdoutPipe()
	ts.Check(err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ts.Check(cmd.Start())
	return cmd, stdout, &stderr
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// finishAJ waits for cmd and records its outputs and exit code as aj does.
func finishAJ(ts *testscript.TestScript, neg bool, cmd *exec.Cmd, stdout []byte, stderr *bytes.Buffer) {
	h := getHarness(ts)
	err := cmd.Wait()
	h.lastCode = cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ts.Fatalf("apijongler: %v", err)
	}
	ts.Stdout().Write(stdout)
	ts.Stderr().Write(stderr.Bytes())
	for f, text := range map[string]string{"stdout": string(stdout), "stderr": stderr.String()} {
		if what := h.leaks(text); what != "" {
			ts.Fatalf("apijongler printed %s on %s", what, f)
		}
	}
	if neg != (h.lastCode != 0) {
		ts.Fatalf("apijongler exit code %d", h.lastCode)
	}
}

// guard is how long ajstream and ajsignal wait for what must come; only
// a broken command takes it.
const guard = time.Minute

func cmdAJStream(ts *testscript.TestScript, neg bool, args []string) {
	h := getHarness(ts)
	if h.sse == nil {
		ts.Fatalf("ajstream: jserver sse first")
	}
	cmd, out, stderr := startAJ(ts, args)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text() + "\n"
		}
	}()
	var got strings.Builder
	printed := func(i int) bool {
		return strings.Contains(got.String(), fmt.Sprintf("  \"text\": \"event %d\"\n}\n", i))
	}
	next := 1 // the event to let go, once event next-1 is printed
	for eof := false; !eof; {
		release := h.release
		if next > 1 && !printed(next-1) {
			release = nil
		}
		select {
		case release <- struct{}{}:
			next++
		case l, ok := <-lines:
			got.WriteString(l)
			eof = !ok
		case <-time.After(guard):
			cmd.Process.Kill()
			ts.Fatalf("ajstream: event %d not printed within %v (nor the stream ended); so far:\n%s", next-1, guard, got.String())
		}
	}
	finishAJ(ts, neg, cmd, []byte(got.String()), stderr)
}

func cmdAJSignal(ts *testscript.TestScript, neg bool, args []string) {
	h := getHarness(ts)
	if h.hang == nil || len(args) < 2 {
		ts.Fatalf("usage: ajsignal INT|TERM ARGS..., after jserver hang")
	}
	sig := map[string]os.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM}[args[0]]
	if sig == nil {
		ts.Fatalf("ajsignal: signal %s: want INT or TERM", args[0])
	}
	for len(h.held) > 0 { // requests of earlier commands
		<-h.held
	}
	cmd, out, stderr := startAJ(ts, args[1:])
	stdout := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(out)
		stdout <- b
	}()
	select {
	case <-h.held:
	case <-time.After(guard):
		cmd.Process.Kill()
		ts.Fatalf("ajsignal: no request reached the server within %v", guard)
	}
	ts.Check(cmd.Process.Signal(sig))
	finishAJ(ts, neg, cmd, <-stdout, stderr)
}

func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: code N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := getHarness(ts).lastCode; (got == want) == neg {
		ts.Fatalf("exit code %d, want %s%d", got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func cmdTook(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: took DURATION")
	}
	limit, err := time.ParseDuration(args[0])
	ts.Check(err)
	if took := getHarness(ts).lastTook; took >= limit {
		ts.Fatalf("apijongler took %s, want under %s", took, limit)
	}
	ts.Logf("took %s", getHarness(ts).lastTook.Round(time.Millisecond))
}

const testModel = "gemini-2.5-flash"

func cmdServer(ts *testscript.TestScript, neg bool, args []string) {
	h := getHarness(ts)
	if len(args) == 0 || neg {
		ts.Fatalf("usage: jserver start|use ...")
	}
	switch args[0] {
	case "start":
		if h.srv != nil {
			ts.Fatalf("jserver already started")
		}
		q := jonglertest.Quota{RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}
		rest := args[1:]
		for len(rest) >= 2 {
			n, err := strconv.Atoi(rest[1])
			ts.Check(err)
			switch rest[0] {
			case "-rpm":
				q.RPM = n
			case "-rpd":
				q.RPD = n
			default:
				ts.Fatalf("jserver start: unknown flag %s", rest[0])
			}
			rest = rest[2:]
		}
		if len(rest) > 0 {
			ts.Fatalf("jserver start: stray %q", rest)
		}
		var keys []jonglertest.Key
		for _, label := range []string{"key1", "key2"} {
			keys = append(keys, jonglertest.Key{Label: label, Value: h.keys[label]})
		}
		h.srv = jonglertest.NewServer(jonglertest.Config{
			Keys:   keys,
			Models: map[string]jonglertest.Quota{testModel: q},
		})
		for _, name := range []string{"testgemini", "testgemini2"} {
			writeConnector(ts, name, h.srv.URL)
		}
	case "echo":
		if h.echo != nil {
			ts.Fatalf("jserver echo already started")
		}
		h.echo = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "session="+litSecret+"cookie-0123456789")
			w.Header().Set("X-Echo-Key", r.Header.Get("X-Goog-Api-Key"))
			json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "headers": r.Header})
		}))
		writeConnector(ts, "echo", h.echo.URL)
		ts.Setenv("ECHO_URL", h.echo.URL)
	case "hang":
		if h.hang != nil {
			ts.Fatalf("jserver hang already started")
		}
		h.held = make(chan struct{}, 16)
		h.hang = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.held <- struct{}{}
			<-r.Context().Done()
		}))
		writeConnector(ts, "hang", h.hang.URL)
	case "sse":
		if h.sse != nil || len(args) != 2 {
			ts.Fatalf("usage: jserver sse N, once")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		h.release = make(chan struct{})
		h.sse = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for i := 1; i <= n; i++ {
				select {
				case <-h.release:
				case <-r.Context().Done():
					return
				}
				fmt.Fprintf(w, "data: {\"n\":%d,\"text\":\"event %d\"}\r\n\r\n", i, i)
				w.(http.Flusher).Flush()
			}
			fmt.Fprint(w, ": done\n\ndata: [DONE]\n\n")
		}))
		writeConnector(ts, "sse", h.sse.URL)
	case "use":
		if h.srv == nil || len(args) != 3 {
			ts.Fatalf("usage: jserver use LABEL N, after jserver start")
		}
		v, ok := h.keys[args[1]]
		if !ok {
			ts.Fatalf("no key %s", args[1])
		}
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		for range n {
			req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1beta/models/"+testModel+":generateContent",
				strings.NewReader(`{"contents":[{"parts":[{"text":"spent elsewhere"}]}]}`))
			ts.Check(err)
			req.Header.Set("x-goog-api-key", v)
			resp, err := h.srv.Client().Do(req)
			ts.Check(err)
			resp.Body.Close()
		}
	default:
		ts.Fatalf("jserver: unknown subcommand %s", args[0])
	}
}

// writeConnector writes the connector file of name, a Gemini-like API at
// url.
func writeConnector(ts *testscript.TestScript, name, url string) {
	port := url[strings.LastIndexByte(url, ':')+1:]
	c := fmt.Sprintf(`{
    "name": %q,
    "host": "127.0.0.1",
    "port": %s,
    "protocol": "http",
    "format": "json",
    "requires_api_key": true,
    "api_key_header": "x-goog-api-key",
    "api_key_query": "key",
    "policy": "gemini"
}
`, name, port)
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv(jongler.ConnectorsDirEnv), name+".json"), []byte(c), 0o644))
}

func cmdStats(ts *testscript.TestScript, neg bool, args []string) {
	h := getHarness(ts)
	if h.srv == nil || len(args) != 3 {
		ts.Fatalf("usage: jstats LABEL|total FIELD N, after jserver start")
	}
	st := h.srv.Stats()
	c := st.Counts
	if args[0] != "total" {
		k, ok := st.Keys[args[0]]
		if !ok {
			ts.Fatalf("no key %s", args[0])
		}
		c = k.Counts
	}
	var got int
	switch args[1] {
	case "requests":
		got = c.Requests
	case "successes":
		got = c.Successes
	case "ratelimited":
		got = c.RateLimited
	case "failed":
		got = c.Failed
	default:
		ts.Fatalf("jstats: unknown field %s", args[1])
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	if (got == want) == neg {
		ts.Fatalf("server counted %s %s = %d, want %d", args[0], args[1], got, want)
	}
}

func cmdKeyState(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: keystate CONNECTOR KEY STATE")
	}
	var rows []keyStatus
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &rows); err != nil {
		ts.Fatalf("stdout is not status --json: %v", err)
	}
	for _, r := range rows {
		if r.Connector != args[0] || r.Key != args[1] {
			continue
		}
		if (string(r.State) == args[2]) == neg {
			ts.Fatalf("%s %s is %s", args[0], args[1], r.State)
		}
		if r.State == jongler.StateLockdown && (r.Until.IsZero() || r.RecoversIn <= 0 || r.Reason == "") {
			ts.Fatalf("%s %s in lockdown without until, recovery time or reason: %+v", args[0], args[1], r)
		}
		return
	}
	ts.Fatalf("status shows no key %s of %s", args[1], args[0])
}

func cmdNoSecrets(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: nosecrets DIR")
	}
	h := getHarness(ts)
	n := 0
	err := filepath.WalkDir(ts.MkAbs(args[0]), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if what := h.leaks(path + "\n" + string(data)); what != "" {
			ts.Fatalf("%s holds %s", path, what)
		}
		return nil
	})
	ts.Check(err)
	ts.Logf("nosecrets: %d files checked", n)
}
