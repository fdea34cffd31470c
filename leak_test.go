package jongler_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/transporttest"

	"github.com/api-jongler/jongler"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer = transporttest.Buffer

// TestKeyValueNeverLeaks runs the transport's scenarios (rotation, refusal,
// lockdown, transport errors, no keys left, redirects, bad config) with
// unique key values and debug logging, then looks for the values in every
// log line, error string, state file name and state file.
func TestKeyValueNeverLeaks(t *testing.T) {
	secrets := map[string]string{"alpha": "AIzaLEAKCHECK-alpha-0c7d1e", "beta": "AIzaLEAKCHECK-beta-9ab34f", "gamma": "AIzaLEAKCHECK-gamma-77e0aa"}
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}

	n := 0
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		n++
		switch {
		case strings.Contains(key, "alpha"):
			w.WriteHeader(429)
			w.Write(fixture(t, "gemini/429-per-minute-tokens-free.json"))
		case strings.Contains(key, "beta"):
			w.WriteHeader(400)
			w.Write(fixture(t, "gemini/400-api-key-invalid.json"))
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(503)
			w.Write(fixture(t, "gemini/503-overloaded.json"))
		}
	})
	dir := t.TempDir()
	tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(secrets)...), jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL),
		jongler.WithLogger(logger), jongler.WithMaxWait(-1), jongler.WithMaxRetries(1),
		jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, path := range []string{genPath, genPath, "/redirect", genPath} {
		req, _ := http.NewRequest(http.MethodPost, u.URL+path+"?key=placeholder", strings.NewReader("{}"))
		resp, err := client.Do(req)
		note(err)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	ks, err := tr.KeyStates(context.Background())
	note(err)
	// Transport errors, and a base that fails.
	dead := &flakyBase{base: http.DefaultTransport}
	dead.n.Store(10)
	tr2, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(secrets)...), jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(u.URL),
		jongler.WithLogger(logger), jongler.WithBaseTransport(dead), jongler.WithMaxRetries(1))
	note(err)
	_, err = tr2.RoundTrip(mustRequest(t, u.URL+genPath))
	note(err)
	// Bad configuration.
	_, err = jongler.LoadConfig(writeFile(t, "k.ini", "[generativelanguage.googleapis.com]\nk = "+secrets["alpha"]+"\nk = "+secrets["beta"]+"\n"), gem)
	note(err)

	if len(errs) < 3 || !strings.Contains(logs.String(), "lockdown") || len(ks.Lockdown) == 0 {
		t.Fatalf("the scenarios did not run as planned: errors %q, states %+v, logs:\n%s", errs, ks, logs.String())
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			files = append(files, p)
		}
		return nil
	})
	for _, v := range secrets {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, v) {
				t.Errorf("log line shows a key value: %s", line)
			}
		}
		for _, e := range errs {
			if strings.Contains(e, v) {
				t.Errorf("error shows a key value: %s", e)
			}
		}
		for _, f := range files {
			if strings.Contains(f, v) {
				t.Errorf("state file name shows a key value: %s", f)
			}
			if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte(v)) {
				t.Errorf("state file %s holds a key value", f)
			}
		}
	}
}
