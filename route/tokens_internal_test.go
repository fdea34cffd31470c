package route

import (
	"net/http"
	"testing"
	"time"
)

// TestGeminiTokenQuota: a Gemini 429 naming its per-minute input-token
// quota (in an array, as the OpenAI-compatible endpoint sends it) is
// learned: the minute is spent, the next one takes what the quota allows
// and no more, and a request over the quota itself never fits. A request
// quota in the same shape teaches nothing.
func TestGeminiTokenQuota(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)
	body := []byte(`[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[` +
		`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",` +
		`"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaValue":"1000"}]},` +
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}]`)
	w := &tokenWindow{remaining: -1}
	w.fromGeminiQuota(body, now)
	next := now.Truncate(time.Minute).Add(time.Minute)
	if at := w.headroom(now, 10); !at.Equal(next) {
		t.Fatalf("after the 429: headroom at %v, want the minute's end %v", at, next)
	}
	later := next.Add(time.Second)
	if at := w.headroom(later, 600); !at.Equal(later) {
		t.Fatalf("next minute: %v, want now", at)
	}
	w.reserve(later, 600)
	if at := w.headroom(later, 600); !at.Equal(next.Add(time.Minute)) {
		t.Errorf("1,200 of 1,000 tokens: headroom %v, want the minute's end", at)
	}
	w.settle(later, 600, 100) // the answer's usage: 100 tokens, not 600
	if at := w.headroom(later, 600); !at.Equal(later) {
		t.Errorf("after the usage was counted: %v, want now", at)
	}
	if at := w.headroom(later, 5000); !at.IsZero() {
		t.Errorf("a request over the quota itself: %v, want never", at)
	}

	req := &tokenWindow{remaining: -1}
	req.fromGeminiQuota([]byte(`{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"10"}]}]}}`), now)
	if req.limit != 0 {
		t.Errorf("a request quota learned as tokens: %d", req.limit)
	}
}

// TestHeaderTokens: x-ratelimit-remaining-tokens holds a long prompt back
// until the reset, and a short one not.
func TestHeaderTokens(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)
	w := &tokenWindow{remaining: -1}
	w.fromHeaders(http.Header{"X-Ratelimit-Remaining-Tokens": {"200"}, "X-Ratelimit-Reset-Tokens": {"12s"}}, now)
	if at := w.headroom(now, 500); !at.Equal(now.Add(12 * time.Second)) {
		t.Errorf("long prompt: %v, want the reset", at)
	}
	if at := w.headroom(now, 50); !at.Equal(now) {
		t.Errorf("short prompt: %v, want now", at)
	}
	if at := w.headroom(now.Add(13*time.Second), 500); !at.Equal(now.Add(13 * time.Second)) {
		t.Errorf("after the reset: %v, want now", at)
	}
}

// TestUsageIn reads the last usage of an answer or a stream.
func TestUsageIn(t *testing.T) {
	for _, c := range []struct {
		tail string
		want int64
		ok   bool
	}{
		{`{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":3}}`, 12, true},
		{"data: {\"usage\":null}\n\ndata: {\"choices\":[],\"usage\": {\"prompt_tokens\": 7}}\n\ndata: [DONE]\n\n", 7, true},
		{`{"id":"x"}`, 0, false},
		{`{"usage":{"total_tokens":4}}`, 0, false},
	} {
		if got, ok := usageIn([]byte(c.tail)); got != c.want || ok != c.ok {
			t.Errorf("%q: %d %v, want %d %v", c.tail, got, ok, c.want, c.ok)
		}
	}
}
