package jongler_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

func TestBundledConnectors(t *testing.T) {
	all, err := jongler.Connectors("")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct{ header, prefix, query, base string }{
		"generativelanguage.googleapis.com": {"x-goog-api-key", "", "key", "https://generativelanguage.googleapis.com"},
		"router.huggingface.co":             {"Authorization", "Bearer ", "", "https://router.huggingface.co"},
		"api-inference.huggingface.co":      {"Authorization", "Bearer ", "", "https://api-inference.huggingface.co"},
		"httpbin.org":                       {"", "", "", "https://httpbin.org"},
	} {
		c, ok := all[name]
		if !ok {
			t.Fatalf("%s not bundled", name)
		}
		if c.APIKeyHeader != want.header || c.APIKeyPrefix != want.prefix || c.APIKeyQuery != want.query || c.BaseURL() != want.base {
			t.Errorf("%s = %+v", name, c)
		}
	}
	if !strings.Contains(all["api-inference.huggingface.co"].Note, "retired") {
		t.Error("the legacy Hugging Face connector does not say it is retired")
	}
}

func TestUnknownConnectorListsKnown(t *testing.T) {
	_, err := jongler.NewTransport("nope.example", jongler.WithKeys(keyList(map[string]string{"k": "v"})...))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{`"nope.example"`, "generativelanguage.googleapis.com", "httpbin.org", "router.huggingface.co"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestUserConnectors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("local.json", `{"name":"local","host":"127.0.0.1","port":8080,"protocol":"http","format":"json","requires_api_key":true,"api_key_header":"X-Key","policy":"gemini"}`)
	write("httpbin.json", `{"name":"httpbin.org","host":"httpbin.internal","port":443,"protocol":"https","format":"json","requires_api_key":false}`)
	all, err := jongler.Connectors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := all["local"]; c.BaseURL() != "http://127.0.0.1:8080" || c.APIKeyHeader != "X-Key" {
		t.Fatalf("local = %+v", c)
	}
	if c := all["httpbin.org"]; c.Host != "httpbin.internal" {
		t.Fatalf("a user file did not override the bundled httpbin.org: %+v", c)
	}
	if _, ok := jongler.PolicyFor(all["local"]).(jongler.GeminiPolicy); !ok {
		t.Fatal(`"policy": "gemini" did not give GeminiPolicy`)
	}

	t.Setenv(jongler.ConnectorsDirEnv, dir)
	tr, err := jongler.NewTransport("local", jongler.WithKeys(keyList(map[string]string{"k": "v"})...), jongler.WithStore(jongler.NewMemoryStore()))
	if err != nil {
		t.Fatal(err)
	}
	if tr.BaseURL() != "http://127.0.0.1:8080" {
		t.Fatalf("connector from $%s: %s", jongler.ConnectorsDirEnv, tr.BaseURL())
	}
}

func TestBadConnectorFiles(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"syntax", "{\n  \"name\": \"x\",\n  \"host\": \"h\"\n  \"port\": 1\n}", "line 4"},
		{"unknown field", `{"name":"x","host":"h","protocol":"https","colour":"red"}`, `"colour"`},
		{"wrong type", `{"name":"x","host":"h","protocol":"https","port":"443"}`, "port"},
		{"bad protocol", `{"name":"x","host":"h","protocol":"ftp"}`, `"protocol"`},
		{"no name", `{"host":"h","protocol":"https"}`, `"name"`},
		{"bad policy", `{"name":"x","host":"h","protocol":"https","policy":"magic"}`, `"policy"`},
		{"trailing", `{"name":"x","host":"h","protocol":"https"} {}`, "after"},
		{"port in host", `{"name":"x","host":"h.example:8443","protocol":"https"}`, `a port goes in "port"`},
		{"URL in host", `{"name":"x","host":"good.example@evil.example","protocol":"https"}`, `"host"`},
		{"query in host", `{"name":"x","host":"good.example?x","protocol":"https"}`, `"host"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := jongler.Connectors(dir)
			if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming bad.json and %s", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestNoKeyConnectorNeedsNoSection(t *testing.T) {
	path := writeFile(t, "k.ini", "[generativelanguage.googleapis.com]\nk = v\n")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte("bin")) })
	tr, err := jongler.NewTransport("httpbin.org", jongler.WithConfigFile(path), jongler.WithBaseURL(u.URL))
	if err != nil {
		t.Fatal(err)
	}
	req := mustRequest(t, u.URL+"/post")
	req.Header.Set("Authorization", "Bearer the-callers-own")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != "bin" {
		t.Fatalf("got %q", got)
	}
	if s := u.requests()[0]; s.key != "the-callers-own" || len(s.slots) != 1 {
		t.Fatalf("a no-key connector changed the caller's credential: %q in %v", s.key, s.slots)
	}
}

// TestConnectorKeySlotsRefused: a header name or prefix that would split a
// request's headers (CR, LF, any control character), or a query parameter
// name that would make other parameters ('&', '=', '#', a space), is
// refused with an error naming the field and the file.
func TestConnectorKeySlotsRefused(t *testing.T) {
	for _, tc := range []struct{ field, value string }{
		{"api_key_header", "x-goog-api-key\r\nX-Forwarded-Host: evil.example"},
		{"api_key_header", "X-Key\n"},
		{"api_key_header", "X Key"},
		{"api_key_header", "X-Key:"},
		{"api_key_prefix", "Bearer \r\nX-Evil: 1\r\nAuthorization: Bearer "},
		{"api_key_prefix", "Bearer\n"},
		{"api_key_prefix", "Bearer\x00"},
		{"api_key_prefix", "Bearer\x7f"},
		{"api_key_query", "key&redirect=http://evil.example"},
		{"api_key_query", "key="},
		{"api_key_query", "key#"},
		{"api_key_query", "api key"},
		{"api_key_query", "key\n"},
	} {
		t.Run(tc.field+" "+strconv.Quote(tc.value), func(t *testing.T) {
			dir := t.TempDir()
			v, _ := json.Marshal(tc.value)
			body := `{"name":"x","host":"h.example","protocol":"https","requires_api_key":true,"` + tc.field + `":` + string(v) + `}`
			path := filepath.Join(dir, "bad.json")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := jongler.Connectors(dir)
			if err == nil {
				t.Fatalf("%s %q accepted", tc.field, tc.value)
			}
			if msg := err.Error(); !strings.Contains(msg, path+":") || !strings.Contains(msg, `field "`+tc.field+`"`) || strings.Contains(msg, "\n") || strings.Contains(msg, "\r") {
				t.Fatalf("error %q: want one line naming %s and field %q", msg, path, tc.field)
			}
		})
	}
	// What the bundled connectors use stays accepted.
	for _, ok := range []string{`"api_key_header":"Authorization","api_key_prefix":"Bearer "`, `"api_key_header":"x-goog-api-key","api_key_query":"key"`, `"api_key_query":"api_key-1.x~"`} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "ok.json"), []byte(`{"name":"x","host":"h.example","protocol":"https","requires_api_key":true,`+ok+`}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := jongler.Connectors(dir); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
