package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// TestServeBaseURL: serve fronts a simulator without a connectors
// directory, its address given by the INI section's base_url or by
// --base-url (which wins), and `apijongler gemini ...` reads base_url too.
func TestServeBaseURL(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	other := jonglertest.NewServer(jonglertest.Config{Keys: e.keys, Models: map[string]jonglertest.Quota{serveModel: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}}})
	t.Cleanup(other.Close)
	ini := fmt.Sprintf("[gemini]\nbase_url = %s/\n%s = %s\n%s = %s\n", e.srv.URL, e.keys[0].Label, e.keys[0].Value, e.keys[1].Label, e.keys[1].Value)
	if err := os.WriteFile(filepath.Join(e.dir, "keys.ini"), []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	noDir := []string{jongler.ConnectorsDirEnv + "="}

	for _, tc := range []struct {
		name string
		args []string
		to   *jonglertest.Server
	}{
		{"INI base_url", nil, e.srv},
		{"--base-url URL", []string{"--base-url", other.URL}, other},
		{"--base-url CONNECTOR=URL", []string{"--base-url", "gemini=" + other.URL}, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.to.Stats().Successes
			p := e.start(noDir, append([]string{"--listen", "127.0.0.1:0"}, tc.args...)...)
			if code, body, _ := call(t, "POST", p.url+"/gemini"+serveGen, "", serveBody); code != 200 || !strings.Contains(body, "Hello") {
				t.Fatalf("generate: %d %s", code, body)
			}
			p.stop(t, syscall.SIGTERM)
			if got := tc.to.Stats().Successes - before; got != 1 {
				t.Errorf("the simulator meant got %d requests, want 1", got)
			}
			e.noSecrets("stderr", p.stderr.String())
		})
	}

	// The request command reads base_url as serve does.
	before := e.srv.Stats().Successes
	cmd := exec.Command("apijongler", "gemini", "POST", serveGen, serveBody)
	cmd.Env = append(append([]string(nil), e.env...), noDir...)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Hello") {
		t.Fatalf("apijongler gemini POST: %v\n%s", err, out)
	}
	if got := e.srv.Stats().Successes - before; got != 1 {
		t.Errorf("the request command's request: the INI's simulator got %d, want 1", got)
	}
}

// TestServeBaseURLErrors: a --base-url serve cannot place is a usage
// error, exit 2, before listening.
func TestServeBaseURLErrors(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	env := []string{"APIJONGLER_KEYS_HF=k1=hf_made_up_value_1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--base-url", "http://127.0.0.1:1"}, "--base-url http://127.0.0.1:1: 2 connectors are served; say which with --base-url CONNECTOR=URL"},
		{[]string{"--base-url", "openai=http://127.0.0.1:1"}, "--base-url openai=http://127.0.0.1:1: api.openai.com is not served"},
		{[]string{"--base-url", "nosuch=http://127.0.0.1:1"}, `unknown connector "nosuch"`},
		{[]string{"--base-url", "testgemini=http://a", "--base-url", "testgemini=http://b"}, "testgemini is given two addresses"},
		{[]string{"--base-url", "testgemini=ftp://a"}, "want http(s)://host[:port]"},
	} {
		if code, stderr := e.tryServe(env, append([]string{"serve", "--listen", "127.0.0.1:0"}, tc.args...)...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %q: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr, tc.want)
		}
	}
}
