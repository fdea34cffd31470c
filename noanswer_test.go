package jongler_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// gemini429 is the Gemini API's per-minute refusal: no Retry-After header,
// the delay in a RetryInfo.
const gemini429 = `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[` +
	`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},` +
	`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`

func allRefused(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(gemini429))
	})
}

// retryAfter returns the answer's Retry-After in seconds, failing if it is
// missing or out of (0, 37].
func retryAfterOf(t *testing.T, resp *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 || n > 37 {
		t.Fatalf("Retry-After %q, want whole seconds in (0, 37]", resp.Header.Get("Retry-After"))
	}
	return n
}

// TestNoKeyAnswer: with WithNoKeyAnswer, the request that exhausts the keys
// and every later one get a 429 with the same Retry-After, in Google's
// shape on native paths (the later ones with a RetryInfo, as the first).
func TestNoKeyAnswer(t *testing.T) {
	u := allRefused(t)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	tr := newTransport(t, u, jongler.WithNoKeyAnswer(), jongler.WithClock(clock))

	first := post(t, tr, u.URL+genPath, `{"contents":[]}`)
	if body := readBody(t, first); first.StatusCode != 429 || body != gemini429 {
		t.Fatalf("first: %d %s, want the upstream's last 429", first.StatusCode, body)
	}
	ra := retryAfterOf(t, first)
	if len(u.requests()) != 3 {
		t.Fatalf("upstream saw %d requests, want one per key", len(u.requests()))
	}

	for i := range 2 {
		resp := post(t, tr, u.URL+genPath, `{"contents":[]}`)
		body := readBody(t, resp)
		if resp.StatusCode != 429 || retryAfterOf(t, resp) != ra {
			t.Fatalf("later %d: %d Retry-After %s, want 429 and %d", i, resp.StatusCode, resp.Header.Get("Retry-After"), ra)
		}
		var b struct {
			Error struct {
				Code    int
				Status  string
				Message string
				Details []map[string]string
			}
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("later body %q: %v", body, err)
		}
		e := b.Error
		if e.Code != 429 || e.Status != "RESOURCE_EXHAUSTED" || len(e.Details) != 1 || e.Details[0]["retryDelay"] != strconv.Itoa(ra)+"s" {
			t.Fatalf("later body %s: want Google's RESOURCE_EXHAUSTED with retryDelay %ds", body, ra)
		}
	}
	if len(u.requests()) != 3 {
		t.Fatalf("upstream saw %d requests, want none after the keys ran out", len(u.requests()))
	}
}

// TestNoKeyAnswerOpenAIPath: on Gemini's OpenAI-compatible path the made-up
// answer is in OpenAI's shape.
func TestNoKeyAnswerOpenAIPath(t *testing.T) {
	u := allRefused(t)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	tr := newTransport(t, u, jongler.WithNoKeyAnswer(), jongler.WithClock(clock))
	const path = "/v1beta/openai/chat/completions"
	const body = `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`
	readBody(t, post(t, tr, u.URL+path, body))
	resp := post(t, tr, u.URL+path, body)
	got := readBody(t, resp)
	retryAfterOf(t, resp)
	var b struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal([]byte(got), &b); err != nil || resp.StatusCode != 429 || b.Error.Code != "rate_limit_exceeded" || b.Error.Message == "" {
		t.Fatalf("%d %s: want OpenAI's rate_limit_exceeded", resp.StatusCode, got)
	}
}

// TestNoKeyErrorDefault: without the option the first exhausting request
// still gets the upstream's 429, now with a Retry-After, and later ones
// fail with ErrNoKeys saying when.
func TestNoKeyErrorDefault(t *testing.T) {
	u := allRefused(t)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	tr := newTransport(t, u, jongler.WithClock(clock))
	first := post(t, tr, u.URL+genPath, `{"contents":[]}`)
	readBody(t, first)
	ra := retryAfterOf(t, first)

	req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, nil)
	_, err := tr.RoundTrip(req)
	var nk *jongler.NoKeyError
	if !errors.Is(err, jongler.ErrNoKeys) || !errors.As(err, &nk) || nk.RetryAfter <= 0 || int((nk.RetryAfter+time.Second-1)/time.Second) != ra {
		t.Fatalf("err = %v, want ErrNoKeys back in %ds", err, ra)
	}
}
