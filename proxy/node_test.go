package proxy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestNodeSDKs runs npm's @google/genai and openai, under Node, through the
// proxy: generate, stream, exhaustion (the SDK's 429 error with the delay)
// and a wrong token (401). The packages are those of
// testdata/sdkjs/package-lock.json, installed by `npm ci` (.ci/run does
// it). A machine without node, or without the packages, fails the test;
// go test -short skips it there, with one line saying what is missing.
func TestNodeSDKs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needs(t, "node is not in PATH: the JavaScript SDK tests need Node 20 or later (.ci/run checks for it)")
	}
	dir := filepath.Join("testdata", "sdkjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@google", "genai")); err != nil {
		needs(t, "the npm packages are not installed: run `npm ci` in proxy/"+filepath.ToSlash(dir)+" (.ci/run does)")
	}
	const chatModel = "gemini-2.0-flash"
	f := newFixture(t, fixtureConfig{
		keys: testKeys[:1],
		models: map[string]jonglertest.Quota{
			model:     {RPM: 2, RPD: 1000},
			chatModel: {RPM: 2, RPD: 1000},
		},
	})
	cmd := exec.Command(node, "sdk.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PROXY_URL="+f.proxy.URL, "TOKEN="+token, "MODEL="+model, "CHAT_MODEL="+chatModel)
	out, err := cmd.CombinedOutput()
	t.Logf("node sdk.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node sdk.mjs: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "ok ") {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d cases passed, want 10", n)
	}
	if f.srv.Stats().Failed != 0 {
		t.Fatalf("upstream failures %+v: a token reached it?", f.srv.Stats().Counts)
	}
	noSecrets(t, "the logs", f.logs.String())
}

// needs fails t for want of what, or skips it under go test -short.
func needs(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; skipped under -short")
	}
	t.Fatal(what)
}
