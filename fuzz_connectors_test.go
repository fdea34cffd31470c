package jongler_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// FuzzConnectorFile feeds the connector loader any file in a connectors
// directory: it must never panic; an error names the file; a connector it
// accepts has an address that parses back to its own scheme, host and
// port, since keys go to that address and nowhere else.
func FuzzConnectorFile(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","host":"llm.example","port":443,"protocol":"https","format":"json","requires_api_key":true}`,
		`{"name":"x","host":"127.0.0.1","port":8080,"protocol":"http","requires_api_key":true,"api_key_header":"x-api-key","api_key_query":"key","policy":"gemini"}`,
		`{"name":"generativelanguage.googleapis.com","host":"proxy.example","protocol":"https","requires_api_key":true,"api_key_header":"Authorization","api_key_prefix":"Bearer "}`,
		`{"name":"x","host":"a b","protocol":"https"}`,
		`{"name":"x","host":"h","protocol":"ftp"}`,
		`{"name":"x","host":"h","protocol":"https","port":70000}`,
		`{"name":"x","host":"h","protocol":"https","unknown":1}`,
		`{"name":"x","host":"h","protocol":"https"} {}`,
		`{"name":"x","host":"h","protocol":"https","policy":"other"}`,
		`{"name":"x","host":"[::1]","protocol":"http","port":9}`,
		`{"name":"x","host":"h","protocol":"https","note":"retired"`,
		"\n\n{\"name\": 3}",
		`[]`,
		`{"name":"x","host":"good.example?.evil.example","protocol":"https"}`,
		`{"name":"x","host":"evil.example#good.example","protocol":"https"}`,
		`{"name":"x","host":"good.example@evil.example","protocol":"https"}`,
		`{"name":"x","host":"good.example:99","protocol":"https"}`,
		`{"name":"x","host":"good.example\\evil","protocol":"https"}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var all map[string]jongler.Connector
		var err error
		within(t, data, func() { all, err = jongler.Connectors(dir) })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "jongler: connector file "+path) {
				t.Fatalf("error does not name the file: %q", err)
			}
			return
		}
		if len(all) < 4 {
			t.Fatalf("%d connectors: the bundled ones lost", len(all))
		}
		for name, c := range all {
			if name != c.Name || name == "" {
				t.Fatalf("connector %q under name %q", c.Name, name)
			}
			u, err := url.Parse(c.BaseURL())
			if err != nil {
				t.Fatalf("connector %q: address %q: %v", name, c.BaseURL(), err)
			}
			host := strings.TrimSuffix(strings.TrimPrefix(c.Host, "["), "]")
			if u.Scheme != c.Protocol || !strings.EqualFold(u.Hostname(), host) || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("connector %q: host %q, protocol %q give the address %q, which is %s://%s (path %q, query %q, fragment %q, user %v)",
					name, c.Host, c.Protocol, c.BaseURL(), u.Scheme, u.Hostname(), u.Path, u.RawQuery, u.Fragment, u.User)
			}
			if c.Port < 1 || c.Port > 65535 {
				t.Fatalf("connector %q: port %d", name, c.Port)
			}
		}
	})
}
