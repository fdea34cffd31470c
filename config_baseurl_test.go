package jongler_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestConfigBaseURL: a section's base_url is the address a transport
// reading the INI file sends keys to; WithBaseURL overrides it; it is no
// key.
func TestConfigBaseURL(t *testing.T) {
	got := make(chan string, 2) // which server saw the key
	serve := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- name + " " + r.Header.Get("x-goog-api-key")
			io.WriteString(w, "{}")
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	inFile, override := serve("file"), serve("option")
	path := writeFile(t, "keys.ini", "[gemini]\nkey1 = AIza-secret-one\nbase_url = "+inFile.URL+"/\n")
	cfg, err := jongler.LoadConfig(path, gem)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL != inFile.URL || len(cfg.Keys) != 1 {
		t.Fatalf("LoadConfig: base URL %q and %d keys, want %q and 1", cfg.BaseURL, len(cfg.Keys), inFile.URL)
	}
	for _, tc := range []struct {
		opts []jongler.Option
		want string
	}{
		{nil, "file"},
		{[]jongler.Option{jongler.WithBaseURL(override.URL)}, "option"},
	} {
		tr, err := jongler.NewTransport(gem, append(tc.opts, jongler.WithConfigFile(path), jongler.WithStore(jongler.NewMemoryStore()))...)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Post(tr.BaseURL()+"/v1beta/models/m:generateContent", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if s := <-got; s != tc.want+" AIza-secret-one" {
			t.Errorf("the request went to %q, want %q with the key", s, tc.want)
		}
		tr.Close()
	}
}
