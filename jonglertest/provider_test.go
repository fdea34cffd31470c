package jonglertest_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

func providerPost(t *testing.T, p *jonglertest.Provider, key, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestProviderLimits: a header-style provider serves within its requests
// and tokens windows, says what is left in x-ratelimit-* headers, and
// refuses past them with OpenAI's 429 and Retry-After until the minute's
// end, after which it serves again.
func TestProviderLimits(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	p := jonglertest.NewProvider(jonglertest.ProviderConfig{
		Keys:   []jonglertest.Key{{Value: "sk-one"}},
		Models: map[string]jonglertest.Limits{"small": {RPM: 2, TPM: jonglertest.Unlimited}, "wordy": {RPM: jonglertest.Unlimited, TPM: 40}},
		Path:   "/openai/v1", Start: start, Minute: 600 * time.Millisecond,
	})
	defer p.Close()
	chat := func(model, text string) *http.Response {
		return providerPost(t, p, "sk-one", "/openai/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"`+text+`"}]}`)
	}
	r1 := chat("small", "hi")
	if r1.StatusCode != 200 || r1.Header.Get("x-ratelimit-remaining-requests") != "1" || r1.Header.Get("x-ratelimit-limit-requests") != "2" {
		t.Fatalf("first: %d %v", r1.StatusCode, r1.Header)
	}
	var c struct {
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if json.NewDecoder(r1.Body).Decode(&c); c.Model != "small" || c.Usage.PromptTokens != 1 {
		t.Errorf("answer %+v", c)
	}
	if r := chat("small", "hi"); r.StatusCode != 200 || r.Header.Get("x-ratelimit-remaining-requests") != "0" {
		t.Fatalf("second: %d %v", r.StatusCode, r.Header)
	}
	r3 := chat("small", "hi")
	var e struct {
		Error struct{ Type, Code string } `json:"error"`
	}
	json.NewDecoder(r3.Body).Decode(&e)
	if r3.StatusCode != 429 || e.Error.Code != "rate_limit_exceeded" || e.Error.Type != "requests" || r3.Header.Get("Retry-After") == "" {
		t.Fatalf("third: %d %+v %v", r3.StatusCode, e, r3.Header)
	}
	long := strings.Repeat("word ", 30) // 150 characters: about 38 tokens
	if r := chat("wordy", long); r.StatusCode != 200 || r.Header.Get("x-ratelimit-remaining-tokens") == "" {
		t.Fatalf("wordy first: %d %v", r.StatusCode, r.Header)
	}
	if r := chat("wordy", long); r.StatusCode != 429 {
		t.Fatalf("wordy over the tokens: %d", r.StatusCode)
	}
	if got := p.Stats(); got.Served != 3 || got.RateLimited != 2 || got.Requests != 5 {
		t.Errorf("stats %+v", got)
	}
	p.Clock().Sleep(t.Context(), time.Minute)
	if r := chat("small", "hi"); r.StatusCode != 200 {
		t.Errorf("next minute: %d", r.StatusCode)
	}
	if r := chat("nope", "hi"); r.StatusCode != 404 {
		t.Errorf("unknown model: %d", r.StatusCode)
	}
	if r := providerPost(t, p, "sk-other", "/openai/v1/chat/completions", `{"model":"small","messages":[{"content":"x"}]}`); r.StatusCode != 401 {
		t.Errorf("unknown key: %d", r.StatusCode)
	}
}

// TestProviderStream: a streamed answer comes as server-sent events, the
// last chunk with usage, then [DONE].
func TestProviderStream(t *testing.T) {
	p := jonglertest.NewProvider(jonglertest.ProviderConfig{Keys: []jonglertest.Key{{Value: "sk-one"}}, StreamChunks: 3})
	defer p.Close()
	r := providerPost(t, p, "sk-one", "/v1/chat/completions", `{"model":"model","stream":true,"messages":[{"content":"hello there"}]}`)
	if ct := r.Header.Get("Content-Type"); r.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("%d %s", r.StatusCode, ct)
	}
	var events []string
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, s)
		}
	}
	if len(events) != 4 || events[3] != "[DONE]" || !strings.Contains(events[2], `"usage"`) || strings.Contains(events[0], `"usage"`) {
		t.Errorf("events %q", events)
	}
	e := providerPost(t, p, "sk-one", "/v1/embeddings", `{"model":"model","input":"hello"}`)
	if e.StatusCode != 200 {
		t.Errorf("embeddings: %d", e.StatusCode)
	}
}

// TestInputTokenQuota: a Gemini model with an input-token quota refuses
// a prompt the minute cannot take with a QuotaFailure naming that quota,
// and takes a short one.
func TestInputTokenQuota(t *testing.T) {
	s := jonglertest.NewServer(jonglertest.Config{Keys: []jonglertest.Key{{Value: "AIza-tokens"}},
		Models: map[string]jonglertest.Quota{"gemini-2.5-flash": {RPM: 100, RPD: jonglertest.Unlimited, InputTPM: 50}}})
	defer s.Close()
	post := func(text string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1beta/openai/chat/completions",
			strings.NewReader(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"`+text+`"}]}`))
		req.Header.Set("Authorization", "Bearer AIza-tokens")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}
	if code, body := post(strings.Repeat("long ", 60)); code != 429 ||
		!strings.Contains(body, `"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier"`) || !strings.Contains(body, `"quotaValue":"50"`) {
		t.Fatalf("a 75-token prompt: %d %s", code, body)
	}
	if code, _ := post("short"); code != 200 {
		t.Errorf("a short prompt: %d", code)
	}
}
