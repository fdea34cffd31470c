package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestDashboardBrowser runs `apijongler serve` against a simulated Gemini
// API and drives its dashboard in Debian's Chromium with playwright-core
// (testdata/uitest, installed by `npm ci`; .ci/run installs both): the
// token form, a key cooling down live, its countdown, the client's counts,
// reset, disable and enable by click and keyboard, 401 without the token,
// no key value in anything the page receives, dark mode, a phone's width. It saves a
// screenshot; APIJONGLER_UPDATE_SCREENSHOT=1 writes it to
// docs/dashboard.png. Without chromium, node or the npm package it fails,
// or skips under -short.
func TestDashboardBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needs(t, "node is not in PATH: the dashboard's browser test needs Node 20 or later")
	}
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		needs(t, "Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
	}
	dir := filepath.Join("testdata", "uitest")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		needs(t, "playwright-core is not installed: run `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci` in cmd/apijongler/"+filepath.ToSlash(dir)+" (.ci/run does)")
	}
	// One request a minute per key; the simulated minute ends 55 s after
	// the start, so that a cooldown lasts longer than the test needs.
	e := newServeEnv(t, jonglertest.Config{
		Models: map[string]jonglertest.Quota{serveModel: {RPM: 1, RPD: jonglertest.Unlimited}},
		Start:  time.Date(2026, 3, 2, 9, 30, 5, 0, time.UTC),
	}, 3)
	p := e.start([]string{tokensEnv + "=" + serveToken}, "testgemini")

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("APIJONGLER_UPDATE_SCREENSHOT") == "1" {
		shot, _ = filepath.Abs(filepath.Join("..", "..", "docs", "dashboard.png"))
	}
	var secrets []string
	for _, k := range e.keys {
		secrets = append(secrets, k.Value)
	}
	cmd := exec.Command(node, "dashboard.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SERVE_URL="+p.url, "TOKEN="+serveToken, "CONNECTOR=testgemini",
		"GEN_PATH="+serveGen, "SECRETS="+strings.Join(secrets, ","), "SCREENSHOT="+shot, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("node dashboard.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node dashboard.mjs: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "ok ") {
			n++
		}
	}
	if n != 29 {
		t.Fatalf("%d checks passed, want 29", n)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `msg=admin action=reset connector=testgemini`) || !strings.Contains(logs, "client_name=token") {
		t.Errorf("the reset is not logged with the client's name:\n%s", logs)
	}
	e.noSecrets("serve's log", logs)
}

// needs fails t for want of what, or skips it under go test -short.
func needs(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; skipped under -short")
	}
	t.Fatal(what)
}
