package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestParseClients: a tokens file's lines, good and bad; every message
// names the file and line, never a token.
func TestParseClients(t *testing.T) {
	const tok = "tok-0123456789abcdef"
	hash := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("other-token-abcdef0123")))
	good := "# clients\n\nalice " + tok + " per_minute=60 per_day=5000 allow=gemini,openai # the team\nci " + hash + "\n"
	cs, err := parseClients("tokens", []byte(good), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "alice" || cs[0].Token != tok || cs[0].PerMinute != 60 || cs[0].PerDay != 5000 ||
		strings.Join(cs[0].Allow, ",") != "gemini,openai" || cs[1].Name != "ci" || cs[1].Token != "" ||
		cs[1].TokenSHA256 != sha256.Sum256([]byte("other-token-abcdef0123")) {
		t.Fatalf("parsed %+v", cs)
	}
	for _, c := range []struct {
		text, want string
		public     bool
	}{
		{tok + "\n", "tokens:1: want NAME TOKEN or NAME sha256:HEX", false},
		{"al/ice " + tok + "\n", "tokens:1: the name (first field) is not", false},
		{"alice " + tok + "\nalice tok-fedcba9876543210\n", "tokens:2: client alice is on line 1 too", false},
		{"alice " + tok + "\nbob " + tok + "\n", "tokens:2: client bob has the token of line 1", false},
		{"alice sha256:abcd\n", "tokens:1: client alice: after sha256: want 64 hex digits", false},
		{"alice short\n", "tokens:1: client alice: refusing a token of 5 bytes to listen beyond loopback", true},
		{"alice " + tok + " per_minute=x\n", "tokens:1: client alice: per_minute: want a whole number", false},
		{"alice " + tok + " per_hour=3\n", `tokens:1: client alice: unknown field "per_hour"`, false},
		{"alice " + tok + " " + tok + "\n", "tokens:1: client alice: field \"(a long field, not shown: it may be a token)\"", false},
		{"alice " + tok + " allow=\n", "tokens:1: client alice: allow=: name at least one", false},
		{"alice per_day=3\n", "tokens:1: client alice: no token before the limits", false},
	} {
		_, err := parseClients("tokens", []byte(c.text), c.public)
		if err == nil || !strings.Contains(err.Error(), "--tokens-file "+c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "short") {
			t.Errorf("%q: the message holds the token: %v", c.text, err)
		}
	}
	if cs, err := parseClients("tokens", []byte("alice short\n"), false); err != nil || cs[0].Token != "short" {
		t.Errorf("a short token on loopback: %v", err)
	}
}

// tokenNew runs `apijongler token new name` and returns the token and the
// line for the tokens file it prints.
func tokenNew(t *testing.T, args ...string) (tok, line string) {
	t.Helper()
	out, err := exec.Command("apijongler", append([]string{"token", "new"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.Lines(string(out)) {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) != 2 || len(lines[0]) != 64 {
		t.Fatalf("token new %v printed:\n%s", args, out)
	}
	return lines[0], lines[1]
}

// TestTokenNew: token new makes a new token of 256 bits each time, and the
// line holds its SHA-256 (or, with --plain, itself), never both.
func TestTokenNew(t *testing.T) {
	tok, line := tokenNew(t, "alice")
	tok2, _ := tokenNew(t, "alice")
	if tok == tok2 {
		t.Fatal("two runs made the same token")
	}
	if want := fmt.Sprintf("alice sha256:%x", sha256.Sum256([]byte(tok))); line != want {
		t.Fatalf("line %q, want %q", line, want)
	}
	if tok, line := tokenNew(t, "--plain", "bob"); line != "bob "+tok {
		t.Fatalf("--plain: line %q", line)
	}
	out, err := exec.Command("apijongler", "token", "new", "two words").CombinedOutput()
	if code := exitCode(err); code != exitUsage || !strings.Contains(string(out), "NAME must be") {
		t.Fatalf("a bad name: exit %d %s", code, out)
	}
}

// exitCode is the exit code of a command's error, 0 for none.
func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestServeNamedClients: serve lets in the clients of a tokens file, one by
// the hash line token new printed; the access log, /metrics and
// /status/clients name them, never their tokens; a client over its daily
// limit gets 429 saying so while another goes on; /status and /metrics
// refuse a request without a token with 401 in JSON.
func TestServeNamedClients(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	bobTok, bobLine := tokenNew(t, "bob")
	tokens := writeSecret(t, e.dir, "tokens", "alice "+serveToken+" per_day=1 allow=testgemini\n"+bobLine+"\n", 0o600)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--tokens-file", tokens)

	for _, c := range []struct {
		tok  string
		want int
	}{{serveToken, 200}, {bobTok, 200}, {serveToken, 429}, {bobTok, 200}, {"nobody-token-0123456789", 401}} {
		code, body, hdr := call(t, "POST", p.url+serveGen, c.tok, serveBody)
		if code != c.want {
			t.Fatalf("%d %s, want %d", code, body, c.want)
		}
		if code == 429 && (!strings.Contains(body, "client alice is over its own limit of 1 requests a day") || hdr.Get("Retry-After") == "") {
			t.Fatalf("alice's 429: Retry-After %q %s", hdr.Get("Retry-After"), body)
		}
	}
	for _, path := range []string{"/status", "/metrics", "/status/clients"} {
		code, body, hdr := call(t, "GET", p.url+path, "", "")
		var shape struct {
			Error struct{ Code int } `json:"error"`
		}
		if code != 401 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &shape) != nil || shape.Error.Code != 401 {
			t.Fatalf("%s without a token: %d %q %s", path, code, hdr.Get("Content-Type"), body)
		}
	}
	code, metrics, _ := call(t, "GET", p.url+"/metrics", bobTok, "")
	for _, want := range [][3]string{{"alice", "200", "1"}, {"alice", "429", "1"}, {"bob", "200", "2"}, {"-", "401", "1"}} {
		if !hasSample(metrics, "jongler_proxy_requests_total", `client_name="`+want[0]+`",connector="testgemini"`, `status="`+want[1]+`"`, want[2]) {
			t.Errorf("/metrics: %d, no requests of %s answered %s counted %s:\n%s", code, want[0], want[1], want[2], metrics)
		}
	}
	code, status, _ := call(t, "GET", p.url+"/status/clients", serveToken, "")
	var clients []struct {
		Name            string
		Requests, Limit int64
		Limited         int64
		PerDay          int `json:"per_day"`
	}
	if code != 200 || json.Unmarshal([]byte(status), &clients) != nil || len(clients) != 2 ||
		clients[0].Name != "alice" || clients[0].Requests != 1 || clients[0].Limited != 1 || clients[0].PerDay != 1 ||
		clients[1].Name != "bob" || clients[1].Requests != 2 {
		t.Fatalf("/status/clients: %d %s", code, status)
	}
	p.stop(t, syscall.SIGTERM)
	logs := p.stderr.String()
	for _, name := range []string{"alice", "bob"} {
		if !strings.Contains(logs, "client=127.0.0.1 client_name="+name+" method=POST") {
			t.Errorf("no access-log line of %s:\n%s", name, logs)
		}
	}
	for _, text := range []string{logs, metrics, status, p.stdout.String()} {
		e.noSecrets("serve's output", text)
		if strings.Contains(text, bobTok) {
			t.Errorf("bob's token leaked:\n%s", text)
		}
	}
}

// TestServeClientRevoked: a client taken out of the tokens file (named in
// the INI file's [serve]) is refused from the SIGHUP on, while its stream
// in flight finishes; another client goes on.
func TestServeClientRevoked(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{StreamChunks: 4, StreamGap: 200 * time.Millisecond}, 2)
	const bobTok = "bob-token-5e0f7a93c1d2"
	tokens := writeSecret(t, e.dir, "tokens", "alice "+serveToken+"\nbob "+bobTok+"\n", 0o600)
	ini, err := os.ReadFile(filepath.Join(e.dir, "keys.ini"))
	if err != nil {
		t.Fatal(err)
	}
	writeSecret(t, e.dir, "keys.ini", string(ini)+"\n[serve]\ntokens_file = "+tokens+"\n", 0o600)
	p := e.start(nil, "--listen", "127.0.0.1:0")
	req, _ := http.NewRequest("POST", p.url+"/v1beta/models/"+serveModel+":streamGenerateContent?alt=sse", strings.NewReader(serveBody))
	req.Header.Set("x-goog-api-key", bobTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob's stream: %v %v", err, resp)
	}
	defer resp.Body.Close()

	writeSecret(t, e.dir, "tokens", "alice "+serveToken+"\n", 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, p.stderr, "msg=reloaded")
	if code, body, _ := call(t, "POST", p.url+serveGen, bobTok, serveBody); code != 401 {
		t.Fatalf("bob after the reload: %d %s", code, body)
	}
	if code, body, _ := call(t, "POST", p.url+serveGen, serveToken, serveBody); code != 200 {
		t.Fatalf("alice after the reload: %d %s", code, body)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(rest), "data: ") != 4 {
		t.Fatalf("bob's stream across the reload: %v\n%s", err, rest)
	}
	p.stop(t, syscall.SIGTERM)
	if strings.Contains(p.stderr.String(), bobTok) {
		t.Fatalf("the log holds bob's token:\n%s", p.stderr)
	}
}

// hasSample reports whether the Prometheus text holds a sample of metric
// with every label of labels and the value.
func hasSample(text, metric string, labelsAndValue ...string) bool {
	labels, value := labelsAndValue[:len(labelsAndValue)-1], labelsAndValue[len(labelsAndValue)-1]
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, metric+"{") || !strings.HasSuffix(line, "} "+value) {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(line, l)
		}
		if all {
			return true
		}
	}
	return false
}

// TestTrustedProxiesFlag: --trusted-proxies takes addresses and prefixes,
// and names a bad entry.
func TestTrustedProxiesFlag(t *testing.T) {
	c := clientFlags{trusted: " 10.0.0.0/8, 192.0.2.1,,::1 "}
	got, err := c.trustedProxies()
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 192.0.2.1/32 ::1/128]" {
		t.Fatalf("%v %v", got, err)
	}
	c.trusted = "10.0.0.0/8,nginx"
	if _, err := c.trustedProxies(); err == nil || !strings.Contains(err.Error(), `entry 2 "nginx": want an address or a prefix`) {
		t.Fatalf("%v", err)
	}
}
