package errshape

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFor(t *testing.T) {
	for _, c := range []struct {
		policy, path string
		want         Shape
	}{
		{"gemini", "/v1beta/models/gemini-2.5-flash:generateContent", Google},
		{"gemini", "/v1/models/x:streamGenerateContent", Google},
		{"gemini", "/v1beta/openai/chat/completions", OpenAI},
		{"huggingface", "/v1/chat/completions", OpenAI},
		{"", "/anything", OpenAI},
		{"anthropic", "/v1/messages", Anthropic},
		{"groq", "/openai/v1/chat/completions", OpenAI},
		{"openrouter", "/api/v1/chat/completions", OpenAI},
	} {
		if got := For(c.policy, c.path); got != c.want {
			t.Errorf("For(%q, %q) = %v, want %v", c.policy, c.path, got, c.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", 37 * time.Second: "37",
	} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteGoogle429(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Google, http.StatusTooManyRequests, "no key", 36200*time.Millisecond)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "37" {
		t.Fatalf("code %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var b struct {
		Error struct {
			Code    int
			Message string
			Status  string
			Details []map[string]string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	e := b.Error
	if e.Code != 429 || e.Status != "RESOURCE_EXHAUSTED" || e.Message != "no key" || len(e.Details) != 1 ||
		e.Details[0]["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || e.Details[0]["retryDelay"] != "37s" {
		t.Fatalf("body %s", rec.Body)
	}
}

func TestWriteOpenAI401(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, OpenAI, http.StatusUnauthorized, "wrong token", 0)
	if rec.Header().Get("Retry-After") != "" {
		t.Fatal("Retry-After on a 401")
	}
	want := `{"error":{"message":"wrong token","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}` + "\n"
	if rec.Code != 401 || rec.Body.String() != want {
		t.Fatalf("%d %s, want %s", rec.Code, rec.Body, want)
	}
}

func TestGoogleCodes(t *testing.T) {
	for status, want := range map[int]string{401: "UNAUTHENTICATED", 404: "NOT_FOUND", 413: "INVALID_ARGUMENT", 499: "CANCELLED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 500: "INTERNAL"} {
		if got := googleCode(status); got != want {
			t.Errorf("googleCode(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestWriteAnthropic429(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Anthropic, http.StatusTooManyRequests, "no key", 2*time.Second)
	var b struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || b.Type != "error" || b.Error.Type != "rate_limit_error" || b.Error.Message != "no key" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.Bytes())
	}
}
