package compat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
)

// The Python original's own files, byte for byte: the INI file of its
// README and the connector files of the api-jongler 2.0.7 package
// (api_jongler/connectors/*.json), in testdata/original.
const originalDir = "testdata/original"

// originalINI copies the README's INI file to a file of the test's own
// with mode 0600 (git keeps no modes), its text unchanged.
func originalINI(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(originalDir, "APIJongler.ini"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "APIJongler.ini")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOriginalINI: the README's INI file reads as the original's
// configparser reads it, both sections.
func TestOriginalINI(t *testing.T) {
	ini := originalINI(t)
	for _, tc := range []struct {
		connector string
		values    []string
	}{
		{"generativelanguage.googleapis.com", []string{"your-gemini-api-key-1", "your-gemini-api-key-2", "your-gemini-api-key-3"}},
		{"api-inference.huggingface.co", []string{"hf_your-huggingface-token-1", "hf_your-huggingface-token-2", "hf_your-huggingface-token-3"}},
	} {
		cfg, err := jongler.LoadConfig(ini, tc.connector)
		if err != nil {
			t.Fatalf("%s: %v", tc.connector, err)
		}
		var names, values []string
		for _, k := range cfg.Keys {
			names, values = append(names, k.Name), append(values, k.Value)
		}
		if want := []string{"key1", "key2", "key3"}; !slices.Equal(names, want) {
			t.Errorf("%s: names %q, want %q", tc.connector, names, want)
		}
		if !slices.Equal(values, tc.values) {
			t.Errorf("%s: the values are not the file's", tc.connector)
		}
	}
}

// TestOriginalConnectorFiles: the original package's connector files load
// unchanged (its extra fields, such as Hugging Face's available_models,
// ignored), each where the original sends requests, with the key where
// the original puts it.
func TestOriginalConnectorFiles(t *testing.T) {
	all, err := jongler.Connectors(filepath.Join(originalDir, "connectors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, base     string
		requiresKey    bool
		header, prefix string
	}{
		{"generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com", true, "x-goog-api-key", ""},
		{"api-inference.huggingface.co", "https://api-inference.huggingface.co", true, "Authorization", "Bearer "},
		{"httpbin.org", "https://httpbin.org", false, "", ""},
	} {
		c, ok := all[tc.name]
		if !ok {
			t.Errorf("%s: not loaded", tc.name)
			continue
		}
		if got := strings.TrimSuffix(c.BaseURL(), "/"); got != tc.base {
			t.Errorf("%s: base URL %q, want %q", tc.name, got, tc.base)
		}
		if c.RequiresAPIKey != tc.requiresKey {
			t.Errorf("%s: requires_api_key %v, want %v", tc.name, c.RequiresAPIKey, tc.requiresKey)
		}
		if tc.header != "" && (c.APIKeyHeader != tc.header || c.APIKeyPrefix != tc.prefix) {
			t.Errorf("%s: key in %q with prefix %q, want %q, %q", tc.name, c.APIKeyHeader, c.APIKeyPrefix, tc.header, tc.prefix)
		}
	}
}

// TestOriginalFilesServeRequests: with the original's INI file and its
// Gemini connector file as they are, compat sends a request with one of
// the file's keys (to a test server standing for Google).
func TestOriginalFilesServeRequests(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Google takes the key in x-goog-api-key or ?key= (where the
		// original put it), never as a Bearer token.
		k := r.Header.Get("x-goog-api-key") + r.URL.Query().Get("key")
		if r.Header.Get("Authorization") != "" {
			k = "Authorization"
		}
		mu.Lock()
		got = append(got, k)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"candidates":[]}`))
	}))
	defer srv.Close()
	j, err := compat.New("generativelanguage.googleapis.com",
		jongler.WithConfigFile(originalINI(t)),
		jongler.WithConnectorsDir(filepath.Join(originalDir, "connectors")),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	body, status, err := j.Request(context.Background(), "POST", "/v1beta/models/gemini-1.5-flash:generateContent",
		`{"contents":[{"parts":[{"text":"Hello, how are you?"}]}]}`)
	if err != nil || status != 200 || !strings.Contains(body, "candidates") {
		t.Fatalf("Request: %d %q %v", status, body, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "your-gemini-api-key-") {
		t.Fatalf("the upstream got %d requests; want one with a key of the file", len(got))
	}
	if names := j.AvailableKeys(); !slices.Equal(names, []string{"key1", "key2", "key3"}) {
		t.Errorf("AvailableKeys %q", names)
	}
}
