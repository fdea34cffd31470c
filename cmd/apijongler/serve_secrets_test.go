package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
)

// tryServe runs `apijongler args...` in e's environment plus env, for a
// command expected to stop at once. A serve that starts instead is
// stopped, and reported with code -1.
func (e *serveEnv) tryServe(env []string, args ...string) (code int, stderr string) {
	e.t.Helper()
	cmd := exec.Command("apijongler", args...)
	cmd.Env = append(append([]string(nil), e.env...), env...)
	var errb lockedBuffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	started := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		started <- strings.HasPrefix(line, "listening on")
	}()
	select {
	case ok := <-started:
		if ok {
			cmd.Process.Kill()
			cmd.Wait()
			return -1, errb.String()
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		e.t.Fatalf("apijongler %v neither started nor stopped in 30s; stderr:\n%s", args, errb.String())
	}
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), errb.String()
}

// writeSecret writes text to a file of mode perm in dir and returns its
// path.
func writeSecret(t *testing.T, dir, name, text string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// TestServeRefusesWeakTokens: for a listener beyond loopback, a token
// under 16 bytes or holding whitespace, however given, is refused with
// exit 2 and one line that names where it was given and how to make a
// good one, never its value.
func TestServeRefusesWeakTokens(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	dir := t.TempDir()
	cases := []struct {
		name  string
		env   []string
		args  []string
		from  string
		value string
	}{
		{name: "readme token", args: []string{"--token", "s3cret"}, from: "--token 1", value: "s3cret"},
		{name: "one space", args: []string{"--token", " "}, from: "--token 1"},
		{name: "one character", args: []string{"--token", serveToken, "--token", "x"}, from: "--token 2"},
		{name: "inner space", args: []string{"--token", "a long token 0123456789"}, from: "--token 1", value: "a long token"},
		{name: "variable", env: []string{tokensEnv + "=" + serveToken + ",tok7-ab"}, from: "$APIJONGLER_TOKENS entry 2", value: "tok7-ab"},
		{name: "file", args: []string{"--token-file", writeSecret(t, dir, "tokens", "# ours\n"+serveToken+"\n\nshort-token-1\n", 0o600)}, from: "line 4", value: "short-token-1"},
		{name: "file with a tab", args: []string{"--token-file", writeSecret(t, dir, "tab", "0123456789abcdef\t0123456789abcdef\n", 0o600)}, from: "line 1", value: "0123456789abcdef"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := e.tryServe(c.env, append([]string{"serve", "--listen", "0.0.0.0:0"}, c.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			var lines []string
			for l := range strings.Lines(stderr) {
				if !strings.Contains(l, "level=WARN") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], c.from) || !strings.Contains(lines[0], "openssl rand -hex 16") || !strings.Contains(lines[0], "at least 16 bytes") {
				t.Errorf("stderr %q: want one line naming %q and saying how to make a token", stderr, c.from)
			}
			if c.value != "" && strings.Contains(stderr, c.value) {
				t.Errorf("stderr holds the token: %q", stderr)
			}
		})
	}
}

// TestServeShortTokenOnLoopback: on loopback a short token is taken, with
// a warning naming where it was given (not its value); it works.
func TestServeShortTokenOnLoopback(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	const short = "ab12cd"
	p := e.start([]string{tokensEnv + "=" + short}, "--listen", "127.0.0.1:0")
	if code, body, _ := call(t, "POST", p.url+serveGen, short, serveBody); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	p.stop(t, syscall.SIGTERM)
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "$APIJONGLER_TOKENS entry 1: a token of 6 bytes") {
		t.Errorf("no warning naming the token's place:\n%s", stderr)
	}
	if strings.Contains(stderr, short) {
		t.Errorf("stderr holds the token:\n%s", stderr)
	}
}

// TestServeTokenFile: --token-file takes one token a line (blank lines
// and # comments skipped), each letting clients in; it warns when group or
// others may read the file, refuses it when they may write it, and refuses
// at once what is not a regular file (a FIFO) or holds no token.
func TestServeTokenFile(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	dir := t.TempDir()
	const second = "second-token-7d1e09a3b2"
	good := writeSecret(t, dir, "tokens", "# the team's tokens\n"+serveToken+"\r\n\n  "+second+"  \n", 0o600)
	if code, stderr := e.tryServe(nil, "serve", "--listen", "0.0.0.0:0", "--token-file", good); code != -1 {
		t.Fatalf("a file of good tokens for 0.0.0.0: exit %d, stderr:\n%s", code, stderr)
	}
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token-file", good)
	for _, tok := range []string{serveToken, second} {
		if code, body, _ := call(t, "POST", p.url+serveGen, tok, serveBody); code != 200 {
			t.Errorf("token of the file: %d %s", code, body)
		}
	}
	if code, _, _ := call(t, "POST", p.url+serveGen, "# the team's tokens", serveBody); code != 401 {
		t.Errorf("a comment let in: %d", code)
	}
	p.stop(t, syscall.SIGTERM)
	if stderr := p.stderr.String(); strings.Contains(stderr, "level=WARN") {
		t.Errorf("a warning for a file of mode 0600 given as a file:\n%s", stderr)
	}

	readable := writeSecret(t, dir, "readable", serveToken+"\n", 0o644)
	p = e.start(nil, "--listen", "127.0.0.1:0", "--token-file", readable)
	p.stop(t, syscall.SIGTERM)
	if stderr := p.stderr.String(); !strings.Contains(stderr, "--token-file "+readable+": group or others may read it (mode 0644)") {
		t.Errorf("no warning for a file of mode 0644:\n%s", stderr)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{writeSecret(t, dir, "writable", serveToken+"\n", 0o662), "group or others may write it (mode 0662); refused"},
		{fifo, "not a regular file"},
		{writeSecret(t, dir, "empty", "# nothing yet\n\n", 0o600), "holds no token"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		start := time.Now()
		code, stderr := e.tryServe(nil, "serve", "--listen", "127.0.0.1:0", "--token-file", c.path)
		if code != exitUsage || !strings.Contains(stderr, "--token-file "+c.path+": ") || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", c.path, code, stderr, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v to refuse", c.path, d)
		}
	}
}

// TestSecretArgumentWarned: a token given with --token, or a store
// password with --store, is taken with one warning line naming the flag,
// never the secret; given in a file or the environment, without one.
func TestSecretArgumentWarned(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	p.stop(t, syscall.SIGTERM)
	stderr := p.stderr.String()
	if n := strings.Count(stderr, "--token puts a secret on the command line"); n != 1 || !strings.Contains(stderr, "--token-file") {
		t.Errorf("%d warnings about --token, want one naming --token-file:\n%s", n, stderr)
	}
	e.noSecrets("stderr", stderr)

	const password = "store-password-51c0ffee"
	storeURL := "redis://:" + password + "@127.0.0.1:1/0"
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		env  []string
		args []string
		warn bool
	}{
		{"flag", nil, []string{"--store", storeURL}, true},
		{"file", nil, []string{"--store-file", writeSecret(t, dir, "store", storeURL+"\nignored\n", 0o600)}, false},
		{"variable", []string{storeEnv + "=" + storeURL}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := e.tryServe(c.env, append(c.args, "cleanup", "testgemini")...)
			if code != exitUsage || !strings.Contains(stderr, "redis at 127.0.0.1:1") {
				t.Errorf("exit %d, stderr %q: want exit 2 naming the store at 127.0.0.1:1", code, stderr)
			}
			warned := strings.Count(stderr, "--store puts a secret on the command line")
			if c.warn && (warned != 1 || !strings.Contains(stderr, "--store-file or $APIJONGLER_STORE")) || !c.warn && warned != 0 {
				t.Errorf("%d warnings about --store, want %v:\n%s", warned, c.warn, stderr)
			}
			if strings.Contains(stderr, password) {
				t.Errorf("stderr holds the store's password:\n%s", stderr)
			}
		})
	}
	if code, stderr := e.tryServe(nil, "--store", storeURL, "--store-file", filepath.Join(dir, "store"), "cleanup", "testgemini"); code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--store and --store-file: exit %d, stderr %q; want exit 2, not both", code, stderr)
	}
}

// TestServeStoreFile: serve keeps its key states in the Redis whose URL
// --store-file holds, as with --store.
func TestServeStoreFile(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	rs := redistest.Start(t)
	url := rs.URL() + "?lease_ttl=1s" // a Redis up for less than a lease's time leases nothing (restart guard)
	path := writeSecret(t, t.TempDir(), "store", url+"\n", 0o600)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--store-file", path)
	if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), `store="`+url+`"`) {
		t.Errorf("serve does not name the store of the file:\n%s", p.stderr)
	}
	keys, err := rs.Client(t).Keys(t.Context(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("redis holds %v (%v); want the key states", keys, err)
	}
}
