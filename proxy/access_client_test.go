package proxy_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAccessLogNamesClient: every access-log line names the client's
// address, for a request let in and for one refused for want of a token,
// and never the token.
func TestAccessLogNamesClient(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	ps := recorderProxy(t, rec, logs, nil)
	if resp, _ := do(t, http.MethodPost, ps.URL+"/v1beta/models/gemini-2.5-flash:generateContent", token, `{}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodPost, ps.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "", `{}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", resp.StatusCode)
	}
	lines := waitAccessLines(t, logs, 2) // written after the answer
	for _, m := range lines {
		if m["client"] != "127.0.0.1" {
			t.Errorf("access log line %v: client %v, want 127.0.0.1", m, m["client"])
		}
	}
	if n := len(lines); n != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the log holds the token:\n%s", logs.String())
	}
}
