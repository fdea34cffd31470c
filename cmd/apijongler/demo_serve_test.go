package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"google.golang.org/genai"
)

// demoServe is a running `apijongler demo serve` and what it printed
// before "listening on".
type demoServe struct {
	cmd                    *exec.Cmd
	base, token, dir, curl string
	stdout, stderr         *lockedBuffer
	done                   chan error
}

var (
	demoBaseRE  = regexp.MustCompile(`(?m)^  base URL  (http://\S+)$`)
	demoTokenRE = regexp.MustCompile(`(?m)^  token     (\S+)$`)
	demoDirRE   = regexp.MustCompile(`files in (\S+), removed at exit`)
	demoCurlRE  = regexp.MustCompile(`(?m)^  (curl .*)$`)
)

// startDemoServe starts `apijongler demo serve --listen 127.0.0.1:0` with
// env added to the test's, and waits until it listens.
func startDemoServe(t *testing.T, env ...string) *demoServe {
	t.Helper()
	d := &demoServe{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command("apijongler", "demo", "serve", "--listen", "127.0.0.1:0")
	d.cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir(), "NO_COLOR=1"), env...)
	d.cmd.Stderr = d.stderr
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		br := bufio.NewReader(out)
		for {
			line, err := br.ReadString('\n')
			d.stdout.Write([]byte(line))
			if strings.HasPrefix(line, "listening on ") {
				close(listening)
				break
			}
			if err != nil {
				break
			}
		}
		br.WriteTo(d.stdout)
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() { d.cmd.Process.Kill() })
	select {
	case <-listening:
	case err := <-d.done:
		t.Fatalf("demo serve exited (%v) before listening; stdout:\n%s\nstderr:\n%s", err, d.stdout, d.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("demo serve did not listen; stdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
	}
	text := d.stdout.String()
	for re, to := range map[*regexp.Regexp]*string{demoBaseRE: &d.base, demoTokenRE: &d.token, demoDirRE: &d.dir, demoCurlRE: &d.curl} {
		m := re.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("demo serve printed no line matching %s:\n%s", re, text)
		}
		*to = m[1]
	}
	return d
}

// stop sends SIGTERM and waits for exit 0.
func (d *demoServe) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("demo serve exited with %v; stderr:\n%s", err, d.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo serve did not exit after SIGTERM; stderr:\n%s", d.stderr)
	}
}

// TestDemoServe: `demo serve` answers the Go Gen AI SDK pointed at the base
// URL and token it prints, and its curl line as printed; past the made-up
// keys' quota, the SDK gets 429, and the route's curl line is served by the
// simulated Groq; at exit its files are gone.
func TestDemoServe(t *testing.T) {
	d := startDemoServe(t)
	if strings.Count(d.stdout.String(), d.token) != 3 {
		t.Errorf("the token is not printed thrice (its line and the curl lines):\n%s", d.stdout)
	}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      d.token,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{},
		HTTPOptions: genai.HTTPOptions{BaseURL: d.base},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 3 keys of 5 requests a minute: 15 answers, then 429 (unless a minute
	// turns in between, which gives more: the count is not asserted).
	ok := 0
	var last error
	for range 20 {
		resp, err := client.Models.GenerateContent(ctx, demoModel, genai.Text("Hello from the SDK"), nil)
		if err != nil {
			last = err
			break
		}
		if !strings.Contains(resp.Text(), "Hello from the SDK") {
			t.Fatalf("answer %q does not quote the prompt", resp.Text())
		}
		ok++
	}
	t.Logf("%d answers, then %v", ok, last)
	if ok < 15 {
		t.Fatalf("%d answers before %v, want 15 at least (3 keys × 5 a minute)", ok, last)
	}
	var apiErr genai.APIError
	if last != nil && (!errors.As(last, &apiErr) || apiErr.Code != http.StatusTooManyRequests) {
		t.Fatalf("after %d answers: %v, want the SDK's 429", ok, last)
	}

	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed: the demo's curl line is tested with it")
	}
	out, err := exec.Command("sh", "-c", d.curl).CombinedOutput()
	if err != nil || !(bytes.Contains(out, []byte(`"candidates"`)) || bytes.Contains(out, []byte(`"RESOURCE_EXHAUSTED"`))) {
		t.Fatalf("%s: %v\n%s", d.curl, err, out)
	}
	if _, err := os.Stat(d.dir); err != nil {
		t.Fatalf("the demo's files: %v", err)
	}
	// The route: Gemini's quota is spent above, so Groq serves it, as the
	// printed curl line shows.
	m := demoCurlRE.FindAllStringSubmatch(d.stdout.String(), -1)
	if len(m) != 2 {
		t.Fatalf("demo serve printed %d curl lines, want 2:\n%s", len(m), d.stdout)
	}
	out, err = exec.Command("sh", "-c", m[1][1]+" -i").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("X-Apijongler-Target: "+jongler.ConnectorGroq+"/"+demoGroqModel)) || !bytes.Contains(out, []byte(`"choices"`)) {
		t.Fatalf("%s: %v\n%s", m[1][1], err, out)
	}
	d.stop(t)
	if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after exit (%v)", d.dir, err)
	}
}

// TestDemoServeIgnoresUserConfig: the user's keys, INI file and store are
// not read: the pool is the made-up keys only, and --config is refused.
func TestDemoServeIgnoresUserConfig(t *testing.T) {
	const real = "AIza-real-key-of-the-user-0001"
	ini := filepath.Join(t.TempDir(), "keys.ini")
	if err := os.WriteFile(ini, []byte("[gemini]\nmine = "+real+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDemoServe(t, "APIJONGLER_KEYS_GEMINI=env="+real+"x", "APIJONGLER_CONFIG="+ini, "APIJONGLER_STORE=redis://127.0.0.1:1")
	code, status, _ := call(t, "GET", d.base+"/status", d.token, "")
	if code != 200 {
		t.Fatalf("/status: %d %s", code, status)
	}
	for _, want := range []string{`"key": "key1"`, `"key": "key3"`} {
		if !strings.Contains(status, want) {
			t.Errorf("/status lacks %s:\n%s", want, status)
		}
	}
	for _, not := range []string{`"mine"`, `"env"`, `"key4"`} {
		if strings.Contains(status, not) {
			t.Errorf("/status holds %s:\n%s", not, status)
		}
	}
	d.stop(t)
	if strings.Contains(d.stdout.String()+d.stderr.String(), real) {
		t.Error("the output holds the user's key")
	}

	cmd := exec.Command("apijongler", "--config", ini, "demo", "serve")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), "demo serve reads none of your configuration") {
		t.Errorf("demo serve --config: %v, %q; want exit 2", err, stderr.String())
	}
}

// TestHealthProbe: the container image's health probe (no shell nor curl
// there), `apijongler --base-url URL httpbin.org GET /healthz`, exits 0
// while serve runs and 4 once it is gone.
func TestHealthProbe(t *testing.T) {
	d := startDemoServe(t)
	probe := func() int {
		cmd := exec.Command("apijongler", "--base-url", d.base, "--timeout", "5s", "httpbin.org", "GET", "/healthz")
		cmd.Env = append(os.Environ(), "APIJONGLER_STATE_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "ok") {
			t.Errorf("probe printed %q", out)
		}
		return 0
	}
	if code := probe(); code != 0 {
		t.Fatalf("probe of a running serve: exit %d", code)
	}
	d.stop(t)
	if code := probe(); code != exitNoAnswer {
		t.Fatalf("probe of a stopped serve: exit %d, want %d", code, exitNoAnswer)
	}
}
