package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// The demo's second tier and its route over both.
const (
	demoGroqModel = "llama-3.3-70b-versatile"
	demoRoute     = "free"
)

// demoServeConfig is what `demo serve` runs.
type demoServeConfig struct {
	listen string
	keys   int
	rpm    int
}

func (a *app) demoServeCmd() *cobra.Command {
	cfg := demoServeConfig{listen: defaultListen, keys: 3, rpm: 5}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run serve in front of simulated Gemini and Groq APIs: try the proxy with curl or an SDK, without keys",
		Long: `demo serve starts a simulated Gemini API on a loopback port (package
jonglertest: Google's quotas and error bodies, in real time), gives it a
few made-up keys, starts a simulated Groq API (rate limits in x-ratelimit-*
headers) with one, writes a throwaway INI file and state directory for
them, and runs 'apijongler serve' in front of both: Gemini at /, each at
/CONNECTOR/, and the route "` + demoRoute + `" (Gemini, then Groq) at
/v1/chat/completions. It prints the base URL, a token for this run and
curl lines that work; point an SDK at them as you would at the real serve.
Ctrl-C stops it and removes its files.

Each key may make --rpm requests a minute: past that, serve rotates to the
next key, then answers 429 with Retry-After as Google would; the route
goes on to Groq before that. Nothing leaves this machine, and none of your
configuration (--config, $APIJONGLER_*) is read.`,
		Example: `  apijongler demo serve
  apijongler demo serve --listen 127.0.0.1:9797 --keys 2 --rpm 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case a.configPath != "" || a.storeFlag != "" || a.storeFile != "":
				return usageErrorf("demo serve reads none of your configuration: drop --config, --store and --store-file")
			case cfg.keys < 1 || cfg.keys > 26:
				return usageErrorf("--keys %d: want 1 to 26", cfg.keys)
			case cfg.rpm < 1:
				return usageErrorf("--rpm %d: want 1 or more", cfg.rpm)
			}
			return a.runDemoServe(cmd, cfg)
		},
		// SIGINT and SIGTERM end it normally, as they end serve.
		Annotations: map[string]string{signalEndsCleanly: "yes"},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.listen, "listen", cfg.listen, "serve on `ADDR` (host:port; port 0 picks one)")
	f.IntVar(&cfg.keys, "keys", cfg.keys, "number of made-up keys")
	f.IntVar(&cfg.rpm, "rpm", cfg.rpm, "requests per minute each key may make to "+demoModel)
	return cmd
}

func (a *app) runDemoServe(cmd *cobra.Command, cfg demoServeConfig) error {
	dir, err := os.MkdirTemp("", "apijongler-demo-")
	if err != nil {
		return configError(err)
	}
	defer os.RemoveAll(dir)
	// This process serves the demo only: none of the user's variables
	// (keys, tokens, a store, Tor) may reach it.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "APIJONGLER_") {
			os.Unsetenv(name)
		}
	}
	os.Setenv(jongler.StateDirEnv, filepath.Join(dir, "state"))

	keys := make([]jonglertest.Key, cfg.keys)
	for i := range keys {
		keys[i] = jonglertest.Key{Label: fmt.Sprintf("key%d", i+1), Value: "demo-" + rand.Text()}
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   keys,
		Models: map[string]jonglertest.Quota{demoModel: {RPM: cfg.rpm, RPD: jonglertest.Unlimited}},
		Start:  time.Now(),
	})
	defer srv.Close()
	// A header-style tier beside it (Groq's API: x-ratelimit-* headers),
	// one key, for the routes endpoint to fall back on.
	groqKey := jonglertest.Key{Label: "key1", Value: "demo-" + rand.Text()}
	groq := jonglertest.NewProvider(jonglertest.ProviderConfig{Keys: []jonglertest.Key{groqKey}, Path: "/openai/v1", Clock: srv.Clock(),
		Models: map[string]jonglertest.Limits{demoGroqModel: {RPM: cfg.rpm, TPM: jonglertest.Unlimited}}})
	defer groq.Close()
	var ini strings.Builder
	fmt.Fprintf(&ini, "[gemini]\nbase_url = %s\n", srv.URL)
	for _, k := range keys {
		fmt.Fprintf(&ini, "%s = %s\n", k.Label, k.Value)
	}
	fmt.Fprintf(&ini, "\n[groq]\nbase_url = %s\n%s = %s\n", groq.URL, groqKey.Label, groqKey.Value)
	fmt.Fprintf(&ini, "\n[routes]\n%s = gemini/%s, groq/%s\n", demoRoute, demoModel, demoGroqModel)
	token := rand.Text() // 26 base32 characters: 130 random bits
	iniPath, tokenPath := filepath.Join(dir, "keys.ini"), filepath.Join(dir, "token")
	for path, data := range map[string]string{iniPath: ini.String(), tokenPath: token + "\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			return configError(err)
		}
	}
	a.configPath = iniPath

	// The address, port 0 resolved, for the lines printed before serve
	// starts (once it has the token, serve redacts it from all it prints).
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return configError(fmt.Errorf("listen: %w", err))
	}
	addr := ln.Addr().String()
	ln.Close()
	a.demoServeIntro(cfg, srv.URL, groq.URL, dir, "http://"+addr, token)

	serve := a.serveCmd()
	serve.SetArgs([]string{"gemini", "groq", "--root", "gemini", "--listen", addr, "--token-file", tokenPath})
	serve.SetOut(a.stdout)
	serve.SetErr(a.stderr)
	serve.SilenceErrors, serve.SilenceUsage = true, true
	return serve.ExecuteContext(cmd.Context())
}

// demoServeIntro prints what demo serve runs and how to use it.
func (a *app) demoServeIntro(cfg demoServeConfig, upstream, groq, dir, base, token string) {
	w := a.stdout
	fmt.Fprintf(w, "%s\n", a.paint(ansiBold, "API Jongler demo server"))
	fmt.Fprintf(w, "A simulated Gemini API listens on %s with %s; each may make %d requests a\n",
		strings.TrimPrefix(upstream, "http://"), plural(cfg.keys, "made-up key"), cfg.rpm)
	fmt.Fprintf(w, "minute to %s. A simulated Groq API on %s has one key, as many to %s.\n",
		demoModel, strings.TrimPrefix(groq, "http://"), demoGroqModel)
	fmt.Fprintf(w, "apijongler serve fronts both (files in %s, removed at exit), with the route\n", dir)
	fmt.Fprintf(w, "%q over Gemini, then Groq, at /v1/chat/completions.\n\n", demoRoute)
	fmt.Fprintf(w, "  base URL  %s\n", base)
	fmt.Fprintf(w, "  token     %s\n\n", token)
	fmt.Fprintf(w, "  curl -s %s/v1beta/models/%s:generateContent -H 'x-goog-api-key: %s' -H 'Content-Type: application/json' -d '{\"contents\":[{\"parts\":[{\"text\":\"Hello\"}]}]}'\n\n",
		base, demoModel, token)
	fmt.Fprintf(w, "  curl -s %s/v1/chat/completions -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n\n",
		base, token, demoRoute)
	fmt.Fprintf(w, "SDKs take the base URL and the token as their API key. Ctrl-C stops the demo.\n")
	w.Flush()
}
