package jongler_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// identUpstream answers 400 API_KEY_INVALID to the value bad and 200 to
// any other.
func identUpstream(t *testing.T, bad string) *upstream {
	invalid := fixture(t, "gemini/400-api-key-invalid.json")
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == bad {
			w.WriteHeader(400)
			w.Write(invalid)
			return
		}
		w.Write([]byte(`{"candidates":[]}`))
	})
}

// oneKey opens a transport on store with key1 = value.
func oneKey(t *testing.T, u *upstream, store jongler.Store, value string) *jongler.Transport {
	return newTransport(t, u, jongler.WithStore(store), jongler.WithMaxWait(-1),
		jongler.WithKeys(jongler.Key{Name: "key1", Value: value}))
}

// tryPost sends a request, returning the transport's error if any.
func tryPost(tr http.RoundTripper, url string) (int, error) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// fingerprintKeyFile points this test's fingerprint secret at a file of
// its own, and returns its path.
func fingerprintKeyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config", "fingerprint.key")
	t.Setenv("APIJONGLER_FINGERPRINT_KEY_FILE", p)
	return p
}

// TestKeyNameReuseRefused: two configurations on one store (a memory
// store; a state directory through two handles) that use the name key1
// for different values: the second is refused, loudly, naming the key and
// the store; the first serves on.
func TestKeyNameReuseRefused(t *testing.T) {
	fingerprintKeyFile(t)
	dir := t.TempDir()
	stores := map[string]func() (jongler.Store, jongler.Store){
		"memory": func() (jongler.Store, jongler.Store) { s := jongler.NewMemoryStore(); return s, s },
		"file": func() (jongler.Store, jongler.Store) {
			a, err := jongler.NewFileStore(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := jongler.NewFileStore(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			u := identUpstream(t, "")
			sa, sb := open()
			a := oneKey(t, u, sa, "fleet-a-value-0123456789")
			b := oneKey(t, u, sb, "fleet-b-value-0123456789")
			if code, err := tryPost(a, u.URL+genPath); err != nil || code != 200 {
				t.Fatalf("first configuration: %d %v", code, err)
			}
			_, err := tryPost(b, u.URL+genPath)
			if err == nil || !strings.Contains(err.Error(), "key key1 stands for another value") || !strings.Contains(err.Error(), name+" store") {
				t.Fatalf("second configuration reusing key1: %v, want a refusal naming key1 and the %s store", err, name)
			}
			if code, err := tryPost(a, u.URL+genPath); err != nil || code != 200 {
				t.Fatalf("first configuration after the refusal: %d %v", code, err)
			}
			if n := len(u.requests()); n != 2 {
				t.Fatalf("%d requests upstream, want the first configuration's 2", n)
			}
		})
	}
}

// TestErrorKeptForItsValue: a key refused for good stays refused for its
// value whatever another configuration reusing the name writes: its
// verdicts are records of its own value, and the refused value is never
// sent again.
func TestErrorKeptForItsValue(t *testing.T) {
	fingerprintKeyFile(t)
	const bad, good = "bad-value-19ac77aa0011", "good-value-5e02b1bb2233"
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == bad {
			w.WriteHeader(400)
			w.Write(fixture(t, "gemini/400-api-key-invalid.json"))
			return
		}
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
		w.Write([]byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"slow down"}}`))
	})
	dir := t.TempDir()
	store := func() jongler.Store {
		s, err := jongler.NewFileStore(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := oneKey(t, u, store(), bad)
	tryPost(old, u.URL+genPath)
	other := oneKey(t, u, store(), good) // the name passes: bad is dead
	tryPost(other, u.URL+genPath)        // writes a cooldown of its own
	again := oneKey(t, u, store(), bad)
	ks, err := again.KeyStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := ks.Keys["key1"].State; s != jongler.StateError {
		t.Fatalf("the refused value after another configuration wrote: %s, want ERROR", s)
	}
	tryPost(again, u.URL+genPath)
	sent := 0
	for _, k := range u.keysSeen() {
		if k == bad {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("the invalid value was sent %d times, want once", sent)
	}
}

// TestFingerprintSecretOutOfStore: after a refusal, the state holds a
// fingerprint but not its secret, in no form; the secret is in the user's
// file, mode 0600, and the fingerprint is the HMAC of the value under it,
// so the store alone cannot reproduce it.
func TestFingerprintSecretOutOfStore(t *testing.T) {
	keyFile := fingerprintKeyFile(t)
	const bad = "bad-value-77ee1100aa55"
	u := identUpstream(t, bad)
	dir := t.TempDir()
	fs, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := oneKey(t, u, fs, bad)
	tryPost(tr, u.URL+genPath)
	raw, err := fs.Load(context.Background(), jongler.ConnectorGemini)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %#o, want 0600", fi.Mode().Perm())
	}
	text, _ := os.ReadFile(keyFile)
	secret, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{`"secret"`, string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
		if strings.Contains(string(raw), form) {
			t.Fatalf("state holds the secret:\n%s", raw)
		}
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(bad))
	if fp := hex.EncodeToString(m.Sum(nil)[:16]); !strings.Contains(string(raw), `"fingerprint": "`+fp+`"`) {
		t.Fatalf("state:\n%s\nwant the fingerprint under the file's secret", raw)
	}
}
