// Command simserver serves simulated LLM upstreams on one loopback port for
// the SDK test suites and benchmarks that run outside Go (Python's pytest
// suite in sdktests/python, the side-by-side benchmark with the Python
// original in bench/): the Gemini API of package jonglertest, and a small
// Anthropic Messages API with a per-key request quota.
//
// Usage:
//
//	simserver -dir DIR [-keys 3] [-projects 3] [-rpm 1000] [-rpd 100000]
//	          [-minute 1m] [-stream-chunks 3] [-stream-gap 5ms]
//	          [-anthropic-keys 2] [-anthropic-limit 1000] [-anthropic-window 1m]
//	          [-window-left D]
//
// It writes DIR/keys.ini, an INI file with the made-up keys (the section
// [generativelanguage.googleapis.com], as the original API Jongler reads
// it, and [api.anthropic.com]), and DIR/connectors, connector files of
// those names that point at itself, so that `apijongler serve` run with
// APIJONGLER_CONFIG=DIR/keys.ini and APIJONGLER_CONNECTORS=DIR/connectors
// sends its requests here. Its first line on standard output is exactly
// "listening on http://127.0.0.1:PORT". It serves until standard input
// closes or it gets SIGINT or SIGTERM.
//
// GET /_sim/stats answers the counters as JSON (no key value in them):
// requests, successes, 429s, failures and overlaps (a key used by two
// requests at once) of the Gemini simulation, and the same for Anthropic.
//
// Simulated time starts on a whole minute, so that the first quota window
// is a full one whatever the moment the program starts, or -window-left
// before one, for a test of what a client does with a short Retry-After.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simserver:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	dir        string
	keys       int
	projects   int
	rpm, rpd   int
	minute     time.Duration
	chunks     int
	gap        time.Duration
	latency    time.Duration
	antKeys    int
	antRPM     int
	antWindow  time.Duration
	windowLeft time.Duration
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	var c config
	fs := flag.NewFlagSet("simserver", flag.ContinueOnError)
	fs.StringVar(&c.dir, "dir", "", "directory for keys.ini and connectors/ (required)")
	fs.IntVar(&c.keys, "keys", 3, "Gemini keys")
	fs.IntVar(&c.projects, "projects", 0, "Gemini projects the keys are spread over, keys of one project sharing its quota (default: one per key)")
	fs.IntVar(&c.rpm, "rpm", 1000, "requests per minute of each (project, model); -1: no limit")
	fs.IntVar(&c.rpd, "rpd", 100000, "requests per day of each (project, model); -1: no limit")
	fs.DurationVar(&c.minute, "minute", time.Minute, "wall length of a simulated minute")
	fs.IntVar(&c.chunks, "stream-chunks", 3, "chunks of a streamed answer")
	fs.DurationVar(&c.gap, "stream-gap", 5*time.Millisecond, "pause between two chunks of a stream")
	fs.DurationVar(&c.latency, "latency", 0, "delay before every successful Gemini answer")
	fs.IntVar(&c.antKeys, "anthropic-keys", 2, "Anthropic keys")
	fs.IntVar(&c.antRPM, "anthropic-limit", 1000, "requests of each Anthropic key in a window")
	fs.DurationVar(&c.antWindow, "anthropic-window", time.Minute, "Anthropic's rate-limit window, in simulated time")
	fs.DurationVar(&c.windowLeft, "window-left", 0, "start simulated time this long before a whole minute (default: on a whole minute)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case c.dir == "":
		return errors.New("-dir is required")
	case c.keys < 1 || c.antKeys < 1:
		return errors.New("-keys and -anthropic-keys: want 1 or more")
	case c.projects < 0 || c.projects > c.keys:
		return fmt.Errorf("-projects %d: want 1 to -keys", c.projects)
	case c.minute <= 0 || c.antWindow <= 0:
		return errors.New("-minute and -anthropic-window: want a positive duration")
	}
	if c.projects == 0 {
		c.projects = c.keys
	}

	gemini := geminiKeys(c.keys, c.projects)
	models := jonglertest.DefaultModels()
	for name := range models {
		models[name] = jonglertest.Quota{RPM: c.rpm, RPD: c.rpd}
	}
	// Simulated time starts on a whole minute, the first window a full
	// one, or -window-left before one.
	start := time.Now().Truncate(time.Minute)
	if c.windowLeft > 0 {
		start = start.Add(time.Minute - c.windowLeft)
	}
	srv := jonglertest.NewUnstartedServer(jonglertest.Config{
		Keys: gemini, Models: models, Minute: c.minute, Start: start,
		StreamChunks: c.chunks, StreamGap: c.gap, Latency: c.latency,
	})
	ant := newAnthropic(anthropicKeys(c.antKeys), c.antRPM, c.antWindow, srv.Clock(), c.chunks, c.gap)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	if err := writeFiles(c.dir, port, gemini, ant.keys); err != nil {
		ln.Close()
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("POST /v1/messages", ant)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(statsOf(srv.Stats(), ant.stats()))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on %s\n", url)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		io.Copy(io.Discard, stdin) // until the parent closes it, or dies
		stop()
	}()
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return nil
}

// geminiKeys makes n keys with random values, spread over projects.
func geminiKeys(n, projects int) []jonglertest.Key {
	keys := make([]jonglertest.Key, n)
	for i := range keys {
		keys[i] = jonglertest.Key{
			Label:   "key" + strconv.Itoa(i+1),
			Value:   "AIzaSim" + randomHex(16),
			Project: "project-" + strconv.Itoa(i%projects+1),
		}
	}
	return keys
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFiles writes dir/keys.ini and the connector files pointing at port.
func writeFiles(dir string, port int, gemini []jonglertest.Key, ant []simKey) error {
	conns := filepath.Join(dir, "connectors")
	if err := os.MkdirAll(conns, 0o700); err != nil {
		return err
	}
	ini := "[generativelanguage.googleapis.com]\n"
	for _, k := range gemini {
		ini += k.Label + " = " + k.Value + "\n"
	}
	ini += "\n[api.anthropic.com]\n"
	for _, k := range ant {
		ini += k.label + " = " + k.value + "\n"
	}
	ini += "\n[routes]\nfree = gemini/gemini-2.5-flash\n" // the routes endpoint (test_routes.py)
	if err := os.WriteFile(filepath.Join(dir, "keys.ini"), []byte(ini), 0o600); err != nil {
		return err
	}
	files := map[string]map[string]any{
		"generativelanguage.googleapis.com": {
			"aliases": []string{"gemini"}, "policy": "gemini",
			"api_key_header": "x-goog-api-key", "api_key_query": "key",
			"openai_path": "/v1beta/openai",
		},
		"api.anthropic.com": {
			"aliases": []string{"anthropic"}, "policy": "anthropic",
			"api_key_header": "x-api-key",
		},
	}
	for name, c := range files {
		c["name"], c["host"], c["port"], c["protocol"] = name, "127.0.0.1", port, "http"
		c["format"], c["requires_api_key"] = "json", true
		data, err := json.MarshalIndent(c, "", "    ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(conns, name+".json"), append(data, '\n'), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// simStats is what GET /_sim/stats answers.
type simStats struct {
	Gemini    counts            `json:"gemini"`
	Keys      map[string]counts `json:"keys"`
	Anthropic counts            `json:"anthropic"`
}

// counts are the outcomes of a set of requests.
type counts struct {
	Requests    int `json:"requests"`
	Successes   int `json:"successes"`
	RateLimited int `json:"rate_limited"`
	Failed      int `json:"failed"`
	Canceled    int `json:"canceled"`
	Overlaps    int `json:"overlaps"`
}

func countsOf(c jonglertest.Counts, overlaps int) counts {
	return counts{c.Requests, c.Successes, c.RateLimited, c.Failed, c.Canceled, overlaps}
}

func statsOf(s jonglertest.Stats, ant counts) simStats {
	out := simStats{Gemini: countsOf(s.Counts, s.Overlaps), Keys: map[string]counts{}, Anthropic: ant}
	for label, k := range s.Keys {
		out.Keys[label] = countsOf(k.Counts, k.Overlaps)
	}
	return out
}
