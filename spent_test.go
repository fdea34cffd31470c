package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestSpentHeadersRestTheKey: a 200 whose headers say the key's requests
// are spent is returned as it is, and the key is sent nothing more until
// the reset; a key whose headers say nothing of the kind keeps serving.
func TestSpentHeadersRestTheKey(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 10, 21, 20, 30, 0, time.UTC)}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		remaining := "5"
		if key == testKeys["key1"] {
			remaining = "0"
		}
		w.Header().Set("x-ratelimit-remaining-requests", remaining)
		w.Header().Set("x-ratelimit-reset-requests", "42s")
		fmt.Fprint(w, `{"id":"chatcmpl-1","choices":[]}`)
	})
	tr, err := jongler.NewTransport("api.openai.com",
		jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}, jongler.Key{Name: "key2", Value: testKeys["key2"]}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(u.URL),
		jongler.WithClock(clock),
		jongler.WithMaxWait(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	send := func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer placeholder")
		return tr.RoundTrip(req)
	}
	for i := range 4 {
		resp, err := send()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "chatcmpl-1") {
			t.Fatalf("request %d: %d %s: the answer must be returned as it is", i, resp.StatusCode, body)
		}
	}
	var got []string
	for _, k := range u.keysSeen() {
		got = append(got, valueName(k))
	}
	if strings.Join(got, ",") != "key1,key2,key2,key2" {
		t.Fatalf("keys sent: %v; want key1 once, then key2 only", got)
	}
	ks, _ := tr.KeyStates(context.Background())
	d := ks.Keys["key1"]
	if d.State != jongler.StateLockdown || !d.Until.Equal(clock.Now().Add(42*time.Second)) || d.Model != "gpt-4o-mini" ||
		!strings.Contains(d.Reason, "requests") {
		t.Fatalf("key1: %+v, want LOCKDOWN for gpt-4o-mini until the reset, saying why", d)
	}
	clock.Sleep(context.Background(), 42*time.Second)
	resp, err := send()
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if last := u.keysSeen(); valueName(last[len(last)-1]) != "key1" {
		t.Fatal("key1 did not serve again once its window reset")
	}
	// key1 said it is spent again: key2 serves.
	resp, err = send()
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if last := u.keysSeen(); valueName(last[len(last)-1]) != "key2" {
		t.Fatal("key1 was sent a request after saying again that it was spent")
	}
}
