package jongler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestErrorTiedToValue: a key refused for good is refused for the value it
// was refused with; the same name with a fixed value serves at once, with
// no cleanup, and the old value is still refused. No value is stored.
func TestErrorTiedToValue(t *testing.T) {
	const bad, good = "bad-value-19ac77", "good-value-5e02b1"
	invalid := fixture(t, "gemini/400-api-key-invalid.json")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == bad {
			w.WriteHeader(400)
			w.Write(invalid)
			return
		}
		w.Write([]byte(`{"candidates":[]}`))
	})
	store := jongler.NewMemoryStore()
	open := func(value string) *jongler.Transport {
		return newTransport(t, u, jongler.WithStore(store), jongler.WithMaxWait(-1),
			jongler.WithKeys(jongler.Key{Name: "key1", Value: value}))
	}
	state := func(tr *jongler.Transport) jongler.KeyState {
		ks, err := tr.KeyStates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ks.Keys["key1"].State
	}
	old := open(bad)
	if resp := post(t, old, u.URL+genPath, "{}"); resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	} else {
		readBody(t, resp)
	}
	if s := state(old); s != jongler.StateError {
		t.Fatalf("key1 %s, want ERROR", s)
	}
	fixed := open(good)
	if s := state(fixed); s != jongler.StateVacant {
		t.Fatalf("key1 with a new value: %s, want VACANT", s)
	}
	if resp := post(t, fixed, u.URL+genPath, "{}"); resp.StatusCode != 200 {
		t.Fatalf("with the new value: %d", resp.StatusCode)
	} else {
		readBody(t, resp)
	}
	if s := state(open(bad)); s != jongler.StateError {
		t.Fatalf("the old value again: %s, want ERROR still", s)
	}
	raw, _ := store.Load(context.Background(), jongler.ConnectorGemini)
	if strings.Contains(string(raw), bad) || strings.Contains(string(raw), good) || !strings.Contains(string(raw), `"fingerprint"`) {
		t.Fatalf("state:\n%s\nwant fingerprints and no value", raw)
	}
}
