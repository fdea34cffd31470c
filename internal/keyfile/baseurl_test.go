package keyfile

import (
	"slices"
	"strings"
	"testing"
)

// TestBaseURL: base_url is the section's address, not a key; it is not
// redacted, is read whatever its case, and a trailing slash is dropped.
func TestBaseURL(t *testing.T) {
	for _, tc := range []struct{ name, ini, want string }{
		{"none", "[c]\nk1 = AIza-secret-0001\n", ""},
		{"loopback", "[c]\nbase_url = http://127.0.0.1:8080\nk1 = AIza-secret-0001\n", "http://127.0.0.1:8080"},
		{"path and slash", "[c]\nk1 = AIza-secret-0001\nBase_URL: https://eu.example.com/gemini/\n", "https://eu.example.com/gemini"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("keys.ini", []byte(tc.ini))
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.Connector("c")
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL != tc.want {
				t.Errorf("BaseURL %q, want %q", c.BaseURL, tc.want)
			}
			if got := values(c); !slices.Equal(got, []string{"k1=AIza-secret-0001"}) {
				t.Errorf("keys %q, want k1 only", got)
			}
			if tc.want != "" && strings.Contains(f.Redact(tc.want), "[redacted]") {
				t.Errorf("the base URL is redacted: %q", f.Redact(tc.want))
			}
		})
	}
}

// TestBaseURLErrors: a base_url that is no address (a key, perhaps) is
// an error naming the line, never showing the value; so is one given
// twice, one in [DEFAULT], and a section with a base_url and no key.
func TestBaseURLErrors(t *testing.T) {
	const key = "AIzaSyPASTED-0123456789abcdefghijklmno"
	for _, tc := range []struct{ name, ini, want string }{
		{"a key", "[c]\nk1 = x-secret-1\nbase_url = " + key + "\n", "keys.ini:3: base_url in [c]: want http(s)://host[:port][/path]"},
		{"a user", "[c]\nk1 = x-secret-1\nbase_url = https://" + key + "@example.com\n", "keys.ini:3: base_url in [c]: want"},
		{"a query", "[c]\nk1 = x-secret-1\nbase_url = https://example.com/?key=" + key + "\n", "keys.ini:3: base_url in [c]: want"},
		{"no scheme", "[c]\nk1 = x-secret-1\nbase_url = example.com/" + key + "\n", "keys.ini:3: base_url in [c]: want"},
		{"twice", "[c]\nk1 = " + key + "\nbase_url = http://a.example\nbase_url = http://b.example\n", "keys.ini:3: base_url is given 2 times in [c]"},
		{"default", "[DEFAULT]\nbase_url = http://a.example\n[c]\nk1 = " + key + "\n", "keys.ini:2: base_url in [DEFAULT] would be every connector's address"},
		{"no key", "[c]\nbase_url = http://a.example/" + key + "\n", "section [c] has no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := connectorError(t, tc.ini, key); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to say %q", msg, tc.want)
			}
		})
	}
}
