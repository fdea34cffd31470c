package jongler_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
)

// maxHint is the documented cap on any delay an upstream asks for.
const maxHint = 24 * time.Hour

// TestRetryAfterCapped: a Retry-After of 9000000000 seconds, a date in year
// 9999 or a number too long for an int64 locked keys for centuries (or,
// overflowing, for a random time); every source of a wait is now capped at
// 24 hours.
func TestRetryAfterCapped(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		header string
		min    time.Duration // the result must be in [min, maxHint]
		ok     bool
	}{
		{"9000000000", maxHint, true},
		{"9223372036", maxHint, true},           // × 1e9 overflows int64 nanoseconds
		{"18446744073709551615", maxHint, true}, // max uint64
		{"99999999999999999999999999", maxHint, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxHint, true},
		{"Friday, 31-Dec-99 23:59:59 GMT", 0, false}, // RFC 850: two-digit year read as 1999: in the past
		{now.Add(48 * time.Hour).UTC().Format(http.TimeFormat), maxHint, true},
		{now.Add(time.Hour).UTC().Format(http.TimeFormat), 58 * time.Minute, true},
		{now.Add(time.Hour).UTC().Format(time.ANSIC), 58 * time.Minute, true},
		{"86400", maxHint, true},
		{"86401", maxHint, true},
		{"120", 2 * time.Minute, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	} {
		d, ok := jongler.RetryAfter(http.Header{"Retry-After": {tc.header}})
		if ok != tc.ok || d < tc.min || d > maxHint {
			t.Errorf("RetryAfter(%q) = %v, %v; want ok %v and a delay in [%v, %v]", tc.header, d, ok, tc.ok, tc.min, maxHint)
		}
	}

	huge := http.Header{"Retry-After": {"9000000000"}}
	year9999 := http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}
	for _, h := range []http.Header{huge, year9999} {
		for name, p := range map[string]jongler.Policy{
			"status": jongler.StatusPolicy{}, "original": compat.OriginalPolicy{},
			"gemini": jongler.GeminiPolicy{}, "huggingface": jongler.HuggingFacePolicy{},
		} {
			for _, status := range []int{429, 503} {
				a := &jongler.Answer{Status: status, Header: h, Body: []byte(`{}`), Now: now}
				v := p.Classify(a)
				if !v.Until.IsZero() && v.Until.Sub(now) > maxHint {
					t.Errorf("%s policy, %d, Retry-After %s: %v until %v, more than %v", name, status, h.Get("Retry-After"), v.Action, v.Until.Sub(now), maxHint)
				}
				if v.Wait > maxHint {
					t.Errorf("%s policy, %d, Retry-After %s: wait %v, more than %v", name, status, h.Get("Retry-After"), v.Wait, maxHint)
				}
			}
		}
		if d := jongler.DefaultBackoff(0, 0, 1, &http.Response{StatusCode: 429, Header: h}); d > maxHint {
			t.Errorf("DefaultBackoff with Retry-After %s = %v", h.Get("Retry-After"), d)
		}
	}
}

// TestEveryPolicyCapsHints: every bundled connector's policy, whatever
// header or body says how long to wait, cools a key down (or waits) at
// most 24 hours past the answer when the upstream asks for centuries.
func TestEveryPolicyCapsHints(t *testing.T) {
	conns, err := jongler.Connectors("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // far from any midnight or month's end
	headers := []http.Header{
		{"Retry-After": {"9000000000"}},
		{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}},
		{"Retry-After-Ms": {"9000000000000000"}},
		{"X-Ratelimit-Reset-Requests": {"9000000000s"}, "X-Ratelimit-Remaining-Requests": {"0"}},
		{"X-Ratelimit-Reset": {"253402300799"}, "X-Ratelimit-Remaining": {"0"}},
	}
	bodies := []string{`{}`,
		`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Please retry in 9000000000s.","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"9000000000s"}]}}`,
		`{"error":"Model is currently loading","estimated_time":9e15}`,
	}
	for name, c := range conns {
		p := jongler.PolicyFor(c)
		for _, h := range headers {
			for _, body := range bodies {
				for _, status := range []int{429, 503} {
					v := p.Classify(&jongler.Answer{Status: status, Header: h, Body: []byte(body), Now: now})
					if !v.Until.IsZero() && v.Until.Sub(now) > maxHint || v.Wait > maxHint {
						t.Errorf("%s (%T), %d, %v, body %.40s: %v until +%v, wait %v", name, p, status, h, body, v.Action, v.Until.Sub(now), v.Wait)
					}
				}
			}
		}
	}
}
