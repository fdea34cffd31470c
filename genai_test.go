package jongler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/api-jongler/jongler"
)

// genaiCall is one request the fake Gemini got.
type genaiCall struct {
	method string // "generateContent" or "streamGenerateContent"
	key    string // key name
	status int
}

// genaiFake answers generateContent and streamGenerateContent?alt=sse in
// the Gemini API's JSON shape. The first request to each method is
// refused with Gemini's 429, whatever its key, so that every call is sent
// again with another key. Stream chunks are sent one at a time: each only
// after the client has taken the one before (ack), so a transport that
// held the body back would stall the stream.
type genaiFake struct {
	*httptest.Server
	t      *testing.T
	names  map[string]string // key value -> name
	chunks []string
	ack    chan struct{}

	mu    sync.Mutex
	calls []genaiCall
}

const genaiModel = "gemini-2.5-flash"

// genai429 is the Gemini API's answer to a request over quota.
const genai429 = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
    ]
  }
}`

func genaiAnswer(text, finish string) string {
	c := map[string]any{"content": map[string]any{"parts": []any{map[string]any{"text": text}}, "role": "model"}, "index": 0}
	if finish != "" {
		c["finishReason"] = finish
	}
	b, _ := json.Marshal(map[string]any{
		"candidates":    []any{c},
		"usageMetadata": map[string]any{"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
		"modelVersion":  genaiModel,
	})
	return string(b)
}

func newGenaiFake(t *testing.T, keys map[string]string, chunks []string) *genaiFake {
	f := &genaiFake{t: t, names: map[string]string{}, chunks: chunks, ack: make(chan struct{})}
	for n, v := range keys {
		f.names[v] = n
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *genaiFake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	prefix := "/v1beta/models/" + genaiModel + ":"
	method, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodPost {
		f.t.Errorf("fake Gemini: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if !strings.Contains(string(body), `"contents"`) {
		f.t.Errorf("fake Gemini: %s body without contents", method)
	}
	// Exactly one credential, a configured key, in x-goog-api-key.
	vals := r.Header.Values("x-goog-api-key")
	name, known := "", len(vals) == 1
	if known {
		name, known = f.names[vals[0]]
	}
	switch {
	case len(vals) == 1 && vals[0] == "placeholder":
		f.t.Errorf("fake Gemini: %s got the SDK's placeholder, not a key", method)
	case !known:
		f.t.Errorf("fake Gemini: %s got %d x-goog-api-key values, none a configured key", method, len(vals))
	}
	if r.Header.Get("Authorization") != "" || r.URL.Query().Has("key") {
		f.t.Errorf("fake Gemini: %s carries a second credential", method)
	}
	if method == "streamGenerateContent" && r.URL.Query().Get("alt") != "sse" {
		f.t.Errorf("fake Gemini: stream without alt=sse: %q", r.URL.RawQuery)
	}

	f.mu.Lock()
	first := !slices.ContainsFunc(f.calls, func(c genaiCall) bool { return c.method == method })
	status := http.StatusOK
	if first || !known {
		status = http.StatusTooManyRequests
	}
	f.calls = append(f.calls, genaiCall{method, name, status})
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if status != http.StatusOK {
		w.WriteHeader(status)
		io.WriteString(w, genai429)
		return
	}
	switch method {
	case "generateContent":
		io.WriteString(w, genaiAnswer("Hello from the fake Gemini.", "STOP"))
	case "streamGenerateContent":
		w.Header().Set("Content-Type", "text/event-stream")
		fl := http.NewResponseController(w)
		for i, c := range f.chunks {
			finish := ""
			if i == len(f.chunks)-1 {
				finish = "STOP"
			}
			fmt.Fprintf(w, "data: %s\r\n\r\n", genaiAnswer(c, finish))
			if err := fl.Flush(); err != nil {
				f.t.Errorf("fake Gemini: flush: %v", err)
				return
			}
			if i == len(f.chunks)-1 {
				break
			}
			select {
			case <-f.ack:
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
				f.t.Errorf("fake Gemini: chunk %d was flushed but the SDK never got it", i)
				return
			}
		}
	default:
		f.t.Errorf("fake Gemini: unknown method %q", method)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *genaiFake) log() []genaiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// TestGenAISDK has the google.golang.org/genai SDK call a fake Gemini
// through the transport, given to it as its HTTP client, with a
// placeholder API key: the transport must replace it with real keys,
// rotate past a 429, and pass the SSE stream through as it comes.
func TestGenAISDK(t *testing.T) {
	keys := map[string]string{}
	for _, n := range []string{"key-a", "key-b", "key-c"} {
		keys[n] = xpSecret(t, n)
	}
	chunks := []string{"Once ", "upon ", "a time, ", "the end."}
	fake := newGenaiFake(t, keys, chunks)

	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(keyList(keys)...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(fake.URL),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      "placeholder",
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{Transport: tr},
		HTTPOptions: genai.HTTPOptions{BaseURL: fake.URL},
	})
	if err != nil {
		t.Fatal(err)
	}

	// One call: the first key is refused, the second answers.
	resp, err := client.Models.GenerateContent(ctx, genaiModel, genai.Text("Say hello."), nil)
	if err != nil {
		t.Fatalf("GenerateContent: %v", err)
	}
	if got := resp.Text(); got != "Hello from the fake Gemini." {
		t.Errorf("GenerateContent text %q", got)
	}
	calls := fake.log()
	if len(calls) != 2 || calls[0].status != 429 || calls[1].status != 200 || calls[0].key == calls[1].key {
		t.Fatalf("generateContent calls %+v; want a 429 with one key, then 200 with another", calls)
	}

	// One streamed call: every chunk, in order, each as it is sent. The
	// key is leased while the stream is read.
	var got []string
	var streamKey string
	for chunk, err := range client.Models.GenerateContentStream(ctx, genaiModel, genai.Text("Tell a story."), nil) {
		if err != nil {
			t.Fatalf("stream, after %d chunks: %v", len(got), err)
		}
		got = append(got, chunk.Text())
		if len(got) == 2 {
			calls := fake.log()
			streamKey = calls[len(calls)-1].key
			ks, err := tr.KeyStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := ks.Keys[streamKey]; d.State != jongler.StateLocked || d.InFlight != 1 {
				t.Errorf("mid-stream, the stream's key %s is %s with %d in flight; want LOCKED, 1", streamKey, d.State, d.InFlight)
			}
		}
		if len(got) < len(chunks) {
			select {
			case fake.ack <- struct{}{}:
			case <-ctx.Done():
				t.Fatalf("the fake Gemini stopped waiting after chunk %d", len(got))
			}
		}
	}
	if !slices.Equal(got, chunks) {
		t.Errorf("stream chunks %q; want %q", got, chunks)
	}
	calls = fake.log()
	if len(calls) != 4 {
		t.Fatalf("calls %+v; want 2 generateContent, then 2 streamGenerateContent", calls)
	}
	stream := calls[2:]
	if stream[0].method != "streamGenerateContent" || stream[0].status != 429 || stream[1].status != 200 || stream[1].key != streamKey {
		t.Errorf("stream calls %+v; want a 429, then 200 with another key", stream)
	}
	if stream[0].key == calls[0].key || stream[1].key == calls[0].key {
		t.Errorf("the stream used %s, which is in lockdown since its 429", calls[0].key)
	}

	// Refused keys cool down; the stream's key is free again.
	ks, err := tr.KeyStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lockdown := []string{calls[0].key, stream[0].key}
	slices.Sort(lockdown)
	if !slices.Equal(ks.Lockdown, lockdown) || !slices.Equal(ks.Vacant, []string{streamKey}) {
		t.Errorf("key states: lockdown %v, vacant %v; want lockdown %v, vacant [%s]", ks.Lockdown, ks.Vacant, lockdown, streamKey)
	}
}
