package jonglertest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

func TestCredentials(t *testing.T) {
	const path = "/v1beta/models/" + flash + ":generateContent"
	tests := []struct {
		name    string
		query   string
		headers []string
		status  int
		reason  string // ErrorInfo reason, if any
		message string // part of the message
	}{
		{"header", "", []string{"x-goog-api-key", "value-ok"}, 200, "", ""},
		{"query", "?key=value-ok", nil, 200, "", ""},
		{"bearer", "", []string{"Authorization", "Bearer value-ok"}, 200, "", ""},
		{"none", "", nil, 403, "", "unregistered callers"},
		{"header and query", "?key=value-ok", []string{"x-goog-api-key", "value-ok"}, 400, "", "Multiple authentication credentials"},
		{"header and bearer", "", []string{"x-goog-api-key", "value-ok", "Authorization", "Bearer value-ok"}, 400, "", "Multiple authentication credentials"},
		{"two query keys", "?key=value-ok&key=value-ok", nil, 400, "", "Multiple authentication credentials"},
		{"unknown", "", []string{"x-goog-api-key", "AIzaSyUnknown"}, 400, "API_KEY_INVALID", "API key not valid"},
		{"basic auth", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 400, "API_KEY_INVALID", "API key not valid"},
		{"invalid", "", []string{"x-goog-api-key", "value-invalid"}, 400, "API_KEY_INVALID", "API key not valid"},
		{"leaked", "?key=value-leaked", nil, 403, "", "reported as leaked"},
	}
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: []jonglertest.Key{
			{Label: "ok", Value: "value-ok"},
			{Label: "invalid", Value: "value-invalid", Invalid: true},
			{Label: "leaked", Value: "value-leaked", Leaked: true},
		},
		Models: map[string]jonglertest.Quota{flash: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
	})
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, path+tt.query, okRequest, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				return
			}
			e := decodeError(t, r.body)
			if !strings.Contains(e.Error.Message, tt.message) || e.Error.Code != tt.status {
				t.Errorf("error %+v, want code %d and message with %q", e.Error, tt.status, tt.message)
			}
			if tt.reason != "" {
				if d := e.detail("ErrorInfo"); d == nil || d["reason"] != tt.reason {
					t.Errorf("ErrorInfo %v, want reason %s", d, tt.reason)
				}
			}
		})
	}
	st := srv.Stats()
	if got := st.Keys["ok"].Successes; got != 3 {
		t.Errorf("key ok: %d successes, want 3", got)
	}
	if got := st.Keys["leaked"].Failed; got != 1 {
		t.Errorf("key leaked: %d failed, want 1", got)
	}
	if st.Requests != len(tests) || st.Successes+st.Failed != st.Requests {
		t.Errorf("totals %+v for %d requests", st.Counts, len(tests))
	}
}

func TestKeyStateChangesAtRunTime(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "a", "b")})
	defer srv.Close()
	if r := gen(t, srv, "value-a", flash); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	srv.Leak("a")
	srv.Invalidate("b")
	if r := gen(t, srv, "value-a", flash); r.status != 403 {
		t.Errorf("leaked key: status %d, want 403", r.status)
	}
	if r := gen(t, srv, "value-b", flash); r.status != 400 {
		t.Errorf("invalidated key: status %d, want 400", r.status)
	}
	defer func() {
		if recover() == nil {
			t.Error("Leak of an unknown label did not panic")
		}
	}()
	srv.Leak("nobody")
}

func TestKeyValuesAreNeverPrinted(t *testing.T) {
	const secret = "AIzaSyTOP-SECRET"
	k := jonglertest.Key{Label: "main", Value: secret, Project: "p", Leaked: true}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
		if s := fmt.Sprintf(verb, k); strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s prints the key value: %s", verb, s)
		}
	}
	cfg := jonglertest.Config{Keys: []jonglertest.Key{k}}
	if s := fmt.Sprintf("%+v %#v", cfg, cfg); strings.Contains(s, secret) {
		t.Errorf("Config prints the key value: %s", s)
	}
	srv := jonglertest.NewServer(cfg)
	defer srv.Close()
	gen(t, srv, secret, flash)
	if s := fmt.Sprintf("%+v", srv.Stats()); strings.Contains(s, secret) || !strings.Contains(s, "main") {
		t.Errorf("Stats: %s", s)
	}
}

func TestBadConfigPanics(t *testing.T) {
	tests := map[string]jonglertest.Config{
		"no value":        {Keys: []jonglertest.Key{{Label: "a"}}},
		"duplicate value": {Keys: []jonglertest.Key{{Label: "a", Value: "v"}, {Label: "b", Value: "v"}}},
		"duplicate label": {Keys: []jonglertest.Key{{Label: "a", Value: "v"}, {Label: "a", Value: "w"}}},
		"negative minute": {Minute: -time.Second},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if strings.Contains(fmt.Sprint(r), `"v"`) {
					t.Errorf("panic message shows a key value: %v", r)
				}
			}()
			srv := jonglertest.NewServer(cfg)
			srv.Close()
		})
	}
}

func TestDefaults(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{Keys: []jonglertest.Key{{Value: "v1"}, {Value: "v2"}}})
	defer srv.Close()
	gen(t, srv, "v2", "gemini-2.5-pro")
	st := srv.Stats()
	if k := st.Keys["key2"]; k.Requests != 1 || k.Project != "project-key2" {
		t.Errorf("key2 %+v", k)
	}
	if got := srv.Projects(); fmt.Sprint(got) != "[project-key1 project-key2]" {
		t.Errorf("projects %v", got)
	}
	for m := range jonglertest.DefaultModels() {
		if _, ok := st.Models[m]; !ok {
			t.Errorf("default model %s not served", m)
		}
	}
	if d := time.Since(srv.Now()); d < -time.Second || d > time.Second {
		t.Errorf("default start is %v from now", d)
	}
}

// Overlaps count requests that found their key already in flight.
func TestOverlapDetection(t *testing.T) {
	tests := []struct {
		name         string
		keys         []string // key of each concurrent request
		wantOverlaps map[string]int
	}{
		{"one key twice", []string{"a", "a"}, map[string]int{"a": 1}},
		{"one key three times", []string{"a", "a", "a"}, map[string]int{"a": 2}},
		{"two keys of one project", []string{"a", "b"}, map[string]int{}},
		{"mixed", []string{"a", "b", "a"}, map[string]int{"a": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys:    keys("p", "a", "b"),
				Latency: time.Hour, // until the request is canceled
			})
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, k := range tt.keys {
				wg.Go(func() {
					postCtx(ctx, t, srv, "/v1beta/models/"+flash+":generateContent", okRequest, "x-goog-api-key", "value-"+k)
				})
			}
			waitFor(t, "all requests in flight", func() bool {
				st := srv.Stats()
				return st.Keys["a"].InFlight+st.Keys["b"].InFlight == len(tt.keys)
			})
			cancel()
			wg.Wait()
			waitFor(t, "all requests done", func() bool { return srv.Stats().Canceled == len(tt.keys) })
			st := srv.Stats()
			total := 0
			for _, label := range []string{"a", "b"} {
				if got := st.Keys[label].Overlaps; got != tt.wantOverlaps[label] {
					t.Errorf("key %s: %d overlaps, want %d", label, got, tt.wantOverlaps[label])
				}
				total += tt.wantOverlaps[label]
			}
			if st.Overlaps != total {
				t.Errorf("%d overlaps in all, want %d", st.Overlaps, total)
			}
			// The log has each, naming the clients' addresses: every other
			// request of its key was in flight from another connection.
			if len(st.OverlapLog) != total {
				t.Fatalf("%d overlaps logged, want %d", len(st.OverlapLog), total)
			}
			for i, o := range st.OverlapLog {
				if tt.wantOverlaps[o.Key] == 0 || o.Arrived.IsZero() || o.Client == "" {
					t.Errorf("overlap %d: %+v", i, o)
				}
				if want := i + 1; len(o.Others) != want {
					t.Errorf("overlap %d: others %v, want %d", i, o.Others, want)
				}
				if slices.Contains(o.Others, o.Client) || slices.Contains(o.Others, "") {
					t.Errorf("overlap %d: client %s among others %v", i, o.Client, o.Others)
				}
			}
		})
	}
}

// Sequential use of one key, even at full speed, is no overlap: a request
// leaves flight before its client sees the end of the answer.
func TestNoOverlapWhenSequential(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   keys("p", "a"),
		Models: map[string]jonglertest.Quota{flash: {RPM: 20, RPD: jonglertest.Unlimited}},
		Start:  noon,
	})
	defer srv.Close()
	paths := []string{
		":generateContent", ":streamGenerateContent?alt=sse", ":streamGenerateContent",
	}
	for i := range 30 { // 20 successes and 10 refusals
		r := post(t, srv, "/v1beta/models/"+flash+paths[i%len(paths)], okRequest, "x-goog-api-key", "value-a")
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	st := srv.Stats()
	if st.Overlaps != 0 || st.Keys["a"].MaxInFlight != 1 {
		t.Errorf("overlaps %d, max in flight %d", st.Overlaps, st.Keys["a"].MaxInFlight)
	}
	if st.Successes != 20 || st.RateLimited != 10 {
		t.Errorf("counts %+v", st.Counts)
	}
}
