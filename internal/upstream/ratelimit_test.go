package upstream

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

var rlNow = time.Date(2026, 3, 10, 21, 20, 30, 0, time.UTC)

func TestParseReset(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time // zero: not ok
	}{
		{"6m0s", rlNow.Add(6 * time.Minute)},                                     // OpenAI
		{"12ms", rlNow.Add(12 * time.Millisecond)},                               // OpenAI
		{"1m30.5s", rlNow.Add(90*time.Second + 500*time.Millisecond)},            // OpenAI
		{"2m59.56s", rlNow.Add(179560 * time.Millisecond)},                       // Groq
		{"7.66s", rlNow.Add(7660 * time.Millisecond)},                            // Groq
		{"2026-03-10T21:21:00Z", time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC)}, // Anthropic
		{"2026-03-10T22:21:00.25+01:00", time.Date(2026, 3, 10, 21, 21, 0, 250e6, time.UTC)},
		{"1773177660000", time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC)}, // OpenRouter, epoch ms
		{"1773177660", time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC)},    // epoch seconds
		{"1773177660.5", time.Date(2026, 3, 10, 21, 21, 0, 500e6, time.UTC)},
		{"11.382867097855", rlNow.Add(11382867097 * time.Nanosecond)}, // Cerebras
		{"30", rlNow.Add(30 * time.Second)},
		{"Tue, 10 Mar 2026 21:21:00 GMT", time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC)},
		{"0", rlNow},
		{"-5s", rlNow},
		{"1773000000000", rlNow},                // in the past: now
		{"99999999999999", rlNow.Add(MaxDelay)}, // far future: capped
		{"100000h", rlNow.Add(MaxDelay)},
		{"", time.Time{}},
		{"soon", time.Time{}},
		{"NaN", time.Time{}},
	} {
		got, ok := ParseReset(tt.in, rlNow)
		if ok != !tt.want.IsZero() || ok && !got.Equal(tt.want) {
			if d := got.Sub(tt.want); ok && d > -time.Microsecond && d < time.Microsecond {
				continue // float seconds
			}
			t.Errorf("ParseReset(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestReadRateLimitSpent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		h      http.Header
		until  time.Time // zero: not spent
		reason string
	}{
		{"openai fine", header("x-ratelimit-remaining-requests", "59", "x-ratelimit-reset-requests", "1s"), time.Time{}, ""},
		{"openai requests", header("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1s",
			"x-ratelimit-remaining-tokens", "10", "x-ratelimit-reset-tokens", "6m0s"), rlNow.Add(time.Second), "requests"},
		{"latest of two", header("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1s",
			"x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6m0s"), rlNow.Add(6 * time.Minute), "requests, tokens"},
		{"anthropic", header("anthropic-ratelimit-output-tokens-remaining", "0", "anthropic-ratelimit-output-tokens-reset", "2026-03-10T21:21:00Z"),
			time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC), "output-tokens"},
		{"cerebras per day", header("x-ratelimit-remaining-requests-day", "0", "x-ratelimit-reset-requests-day", "3600.5"),
			rlNow.Add(3600*time.Second + 500*time.Millisecond), "requests-day"},
		{"openrouter", header("X-RateLimit-Limit", "20", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1773177660000"),
			time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC), "requests"},
		{"ietf draft", header("RateLimit-Remaining", "0", "RateLimit-Reset", "5"), rlNow.Add(5 * time.Second), "requests"},
		{"no reset, per minute", header("x-ratelimit-remaining-tokens-minute", "0"), rlNow.Add(time.Minute), "tokens-minute"},
		{"no reset, per day: not guessed", header("x-ratelimit-remaining-requests-day", "0"), time.Time{}, ""},
		{"azure -1", header("x-ratelimit-remaining-tokens", "-1", "x-ratelimit-reset-tokens", "0"), time.Time{}, ""},
		{"reset passed", header("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "0s"), time.Time{}, ""},
		{"garbage", header("x-ratelimit-remaining-requests", "zero", "x-ratelimit-reset-requests", "later"), time.Time{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := ReadRateLimit(tt.h, rlNow)
			until, reason, ok := rl.Spent(rlNow)
			if ok != !tt.until.IsZero() || !until.Equal(tt.until) {
				t.Fatalf("Spent = %v, %q, %v; want %v (windows %+v)", until, reason, ok, tt.until, rl.Windows)
			}
			if ok && reason != "rate limit spent: "+tt.reason {
				t.Fatalf("reason %q, want the windows %q", reason, tt.reason)
			}
		})
	}
}

func TestReadRateLimitRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{header("Retry-After", "30"), 30 * time.Second, true},
		{header("Retry-After", "1.5"), 1500 * time.Millisecond, true},
		{header("Retry-After", "Tue, 10 Mar 2026 21:21:00 GMT"), 30 * time.Second, true},
		{header("retry-after-ms", "250", "Retry-After", "1"), 250 * time.Millisecond, true},
		{header("Retry-After", "whenever"), 0, false},
		{header(), 0, false},
	} {
		rl := ReadRateLimit(tt.h, rlNow)
		if rl.RetryAfter != tt.want || rl.HasRetryAfter != tt.ok {
			t.Errorf("%v: RetryAfter %v %v, want %v %v", tt.h, rl.RetryAfter, rl.HasRetryAfter, tt.want, tt.ok)
		}
	}
}

func FuzzReadRateLimit(f *testing.F) {
	for _, s := range []string{"6m0s", "2026-03-10T21:21:00Z", "1773177660000", "11.38", "-1", "1e400", "0x10", "Inf"} {
		f.Add("x-ratelimit-reset-requests", s, "0")
		f.Add("anthropic-ratelimit-tokens-reset", s, "0")
		f.Add("retry-after", s, "1")
	}
	f.Fuzz(func(t *testing.T, name, value, remaining string) {
		h := http.Header{}
		h.Set(name, value)
		h.Set(strings.Replace(name, "reset", "remaining", 1), remaining)
		rl := ReadRateLimit(h, rlNow)
		if rl.RetryAfter < 0 || rl.RetryAfter > MaxDelay {
			t.Fatalf("RetryAfter %v", rl.RetryAfter)
		}
		for _, w := range rl.Windows {
			if !w.Reset.IsZero() && (w.Reset.Before(rlNow) || w.Reset.After(rlNow.Add(MaxDelay))) {
				t.Fatalf("reset %v outside [now, now+MaxDelay]", w.Reset)
			}
		}
		if until, reason, ok := rl.Spent(rlNow); ok && (!until.After(rlNow) || until.After(rlNow.Add(MaxDelay)) || strings.ContainsAny(reason, "\n\r")) {
			t.Fatalf("Spent %v %q", until, reason)
		}
		if t, ok := ParseReset(value, rlNow); ok && (t.Before(rlNow) || t.After(rlNow.Add(MaxDelay))) {
			panic("ParseReset out of range")
		}
	})
}
