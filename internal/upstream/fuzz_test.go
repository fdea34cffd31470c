package upstream

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// extraSeeds are bodies beyond the fixtures that reach other branches.
var extraSeeds = []struct {
	status int
	body   string
}{
	{429, `[` + quota429(quotaFailure(dayReq, minuteTok), retryInfo("26s")) + `]`},
	{429, msg429(`* Quota exceeded for metric: m, limit: 0, model: gemini-2.5-pro\nPlease retry in 10.4s.`)},
	{429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","metadata":{"quota_limit":"GenerateRequestsPerMinutePerProjectPerModel","quota_limit_value":"0"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":{"seconds":3,"nanos":5}}]}}`},
	{403, `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:x' has been suspended.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_SUSPENDED"}]}}`},
	{200, `{"error":{"code":"503","message":"overloaded"}}`},
	{503, `{"error":"Model x/y is currently loading","estimated_time":"1e9"}`},
	{503, `{"error":{"message":"Model a/b is currently loading"}}`},
	{422, `{"error":["bad",1]}`},
	{500, "\x00\xff{\"error\":"},
}

// checkAnswer asserts what must hold for any Answer.
func checkAnswer(t *testing.T, a Answer) {
	t.Helper()
	if a.Kind < Unknown || a.Kind > ResourceDenied || a.Kind.String() == "Kind(?)" {
		t.Errorf("Kind %d out of range", a.Kind)
	}
	if a.Delay < 0 || a.Delay > MaxDelay {
		t.Errorf("Delay %v outside [0, %v]", a.Delay, MaxDelay)
	}
	if a.Model != "" && modelName(a.Model) != a.Model {
		t.Errorf("Model %q is not a clean model name", a.Model)
	}
	if a.QuotaID != "" && ident(a.QuotaID) != a.QuotaID {
		t.Errorf("QuotaID %q is not a clean identifier", a.QuotaID)
	}
	if a.QuotaID != "" && a.Kind != QuotaMinute && a.Kind != QuotaDay && a.Kind != QuotaZero {
		t.Errorf("QuotaID %q on a %v", a.QuotaID, a.Kind)
	}
	if a.Reason == "" || len(a.Reason) > 200 || !utf8.ValidString(a.Reason) {
		t.Errorf("Reason %q empty, long or not UTF-8", a.Reason)
	}
	for _, c := range []byte(a.Reason) {
		if c < ' ' || c > '~' {
			t.Errorf("Reason %q has byte %#x", a.Reason, c)
			break
		}
	}
}

func FuzzGoogle(f *testing.F) {
	for _, fx := range fixtures(f, "gemini") {
		f.Add(fx.status, fx.body)
	}
	for _, s := range extraSeeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		a := Google(status, body)
		checkAnswer(t, a)
		if a.Model != "" && a.Kind != QuotaMinute && a.Kind != QuotaDay && a.Kind != QuotaZero {
			t.Errorf("Model %q on a %v", a.Model, a.Kind)
		}
		if b := Google(status, body); b != a {
			t.Errorf("not deterministic: %+v then %+v", a, b)
		}
		if !json.Valid(body) {
			if want := statusOnly(status); a != want {
				t.Errorf("invalid JSON gave %+v, want %+v", a, want)
			}
			return
		}
		// The OpenAI-compatible array form means the same as the object.
		// (Bounded: wrapping adds a nesting level, and JSON depth is capped.)
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' && len(body) < 4096 {
			wrapped := append(append([]byte{'['}, body...), ']')
			if w := Google(status, wrapped); w != a {
				t.Errorf("array-wrapped gave %+v, object %+v", w, a)
			}
		}
	})
}

func FuzzHuggingFace(f *testing.F) {
	for _, fx := range fixtures(f, "huggingface") {
		f.Add(fx.status, fx.body)
	}
	for _, s := range extraSeeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		a := HuggingFace(status, body)
		checkAnswer(t, a)
		if a.Model != "" && a.Kind != Loading {
			t.Errorf("Model %q on a %v", a.Model, a.Kind)
		}
		if a.QuotaID != "" {
			t.Errorf("QuotaID %q from Hugging Face", a.QuotaID)
		}
		switch status {
		case 401:
			if a.Kind != Unauthorized {
				t.Errorf("401 gave %v", a.Kind)
			}
		case 402:
			if a.Kind != Credits {
				t.Errorf("402 gave %v", a.Kind)
			}
		default:
			if !json.Valid(body) {
				if want := statusOnly(status); a != want {
					t.Errorf("invalid JSON gave %+v, want %+v", a, want)
				}
			}
		}
		if b := HuggingFace(status, body); b != a {
			t.Errorf("not deterministic: %+v then %+v", a, b)
		}
	})
}
