package jongler_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestRefusedKeyLoggedAtWarn: a key refused for good ("API key not
// valid") is logged at WARN, the level serve logs at by default, naming
// the key and never its value.
func TestRefusedKeyLoggedAtWarn(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		switch key {
		case testKeys["key1"]:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`))
		default:
			w.Write([]byte(`{"candidates":[]}`))
		}
	})
	var logs bytes.Buffer
	tr := newTransport(t, u,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}, jongler.Key{Name: "key2", Value: testKeys["key2"]}),
		jongler.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	for range 2 {
		resp := post(t, tr, u.URL+genPath, `{}`)
		readBody(t, resp)
	}
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="jongler: key in error"`) || !strings.Contains(out, "key=key1") {
		t.Fatalf("log at WARN:\n%s\nwant the refused key1 at WARN", out)
	}
	if strings.Contains(out, testKeys["key1"]) {
		t.Fatalf("log names the key's value:\n%s", out)
	}
}
