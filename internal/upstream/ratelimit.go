package upstream

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Window is one rate-limit window an answer's headers describe, such as
// the requests per day of a Groq organisation or the input tokens per
// minute of an Anthropic one.
type Window struct {
	// Kind is what the window counts: "requests", "tokens",
	// "input-tokens", "output-tokens", "tokens_usage_based"...
	Kind string
	// Period is the window's length when the header names it
	// (Cerebras' "-day", "-minute"); 0 if it does not.
	Period time.Duration
	// Limit and Remaining are the header values; -1 when absent or
	// unreadable.
	Limit, Remaining int64
	// Reset is when the window is full again; zero when unknown.
	Reset time.Time
}

// RateLimit is what an answer's rate-limit headers say.
type RateLimit struct {
	// Windows lists the windows named by the headers, in a fixed order
	// (by Kind, then Period).
	Windows []Window
	// RetryAfter is the wait asked by retry-after-ms or Retry-After, in
	// [0, MaxDelay]; HasRetryAfter says whether one was given.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// ReadRateLimit reads every rate-limit header of an answer received at now:
//
//   - x-ratelimit-{limit,remaining,reset}-{requests,tokens} (OpenAI, Groq,
//     and the "-day", "-minute", "-hour" variants of Cerebras);
//   - anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//     {limit,remaining,reset};
//   - x-ratelimit-{limit,remaining,reset} and ratelimit-{limit,remaining,
//     reset} without a kind (OpenRouter, the IETF draft), as requests;
//   - retry-after-ms and Retry-After.
//
// A reset may be a Go duration ("6m0s", "12ms", "1m30.5s"), an RFC 3339
// time, an HTTP date, epoch seconds or milliseconds, or float seconds from
// now; see [ParseReset]. Headers it cannot read are ignored.
func ReadRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	for name, vals := range h {
		if len(vals) == 0 {
			continue
		}
		lower := strings.ToLower(name)
		switch lower {
		case "retry-after-ms":
			if ms, err := strconv.ParseFloat(strings.TrimSpace(vals[0]), 64); err == nil {
				rl.RetryAfter, rl.HasRetryAfter = secondsDelay(ms/1000), true
			}
			continue
		case "retry-after":
			if _, ms := h["Retry-After-Ms"]; ms {
				continue // the finer one wins
			}
			if d, ok := RetryAfter(vals[0], now); ok {
				rl.RetryAfter, rl.HasRetryAfter = d, true
			}
			continue
		}
		field, kind, ok := rateLimitName(lower)
		if !ok {
			continue
		}
		kind, per := splitPeriod(kind)
		w := rl.window(kind, per)
		v := strings.TrimSpace(vals[0])
		switch field {
		case "limit":
			w.Limit = count(v)
		case "remaining":
			w.Remaining = count(v)
		case "reset":
			w.Reset, _ = ParseReset(v, now)
		}
	}
	sortWindows(rl.Windows)
	return rl
}

// rateLimitName splits a lowered header name into its field (limit,
// remaining, reset) and the kind it counts.
func rateLimitName(lower string) (field, kind string, ok bool) {
	if rest, ok := strings.CutPrefix(lower, "anthropic-ratelimit-"); ok {
		for _, f := range [...]string{"limit", "remaining", "reset"} {
			if k, ok := strings.CutSuffix(rest, "-"+f); ok && k != "" {
				return f, k, true
			}
		}
		return "", "", false
	}
	rest, ok := strings.CutPrefix(lower, "x-ratelimit-")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "ratelimit-")
	}
	if !ok {
		return "", "", false
	}
	for _, f := range [...]string{"limit", "remaining", "reset"} {
		if rest == f {
			return f, "requests", true
		}
		if k, ok := strings.CutPrefix(rest, f+"-"); ok && k != "" {
			return f, k, true
		}
	}
	return "", "", false
}

// splitPeriod takes a window length off a kind: "requests-day" is
// requests per day.
func splitPeriod(kind string) (string, time.Duration) {
	for _, p := range [...]struct {
		suffix string
		d      time.Duration
	}{{"-minute", time.Minute}, {"-min", time.Minute}, {"-hour", time.Hour}, {"-day", 24 * time.Hour}} {
		if k, ok := strings.CutSuffix(kind, p.suffix); ok && k != "" {
			return k, p.d
		}
	}
	return kind, 0
}

func (rl *RateLimit) window(kind string, per time.Duration) *Window {
	for i := range rl.Windows {
		if rl.Windows[i].Kind == kind && rl.Windows[i].Period == per {
			return &rl.Windows[i]
		}
	}
	rl.Windows = append(rl.Windows, Window{Kind: kind, Period: per, Limit: -1, Remaining: -1})
	return &rl.Windows[len(rl.Windows)-1]
}

func sortWindows(ws []Window) {
	for i := 1; i < len(ws); i++ { // insertion sort: a handful of windows
		for j := i; j > 0 && less(ws[j], ws[j-1]); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

func less(a, b Window) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Period < b.Period
}

// count reads a limit or remaining count ("1000", "79500", "999.0");
// -1 when unreadable or negative (Azure sends -1 for "no limit").
func count(s string) int64 {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return max(n, -1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > math.MaxInt64/2 {
		return -1
	}
	return int64(f)
}

// RetryAfter reads a Retry-After value sent at now: delta seconds (a
// float is accepted) or an HTTP date, capped at [MaxDelay]. ok is false
// when v is neither; a delay of 0 is ok (the upstream said "now").
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return secondsDelay(f), !math.IsNaN(f) && f >= 0
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampDelay(t.Sub(now)), true
	}
	return 0, false
}

// Epoch thresholds for bare numbers: a reset of 10^9 or more is epoch
// seconds (2001 on), 10^12 or more epoch milliseconds; anything less is
// seconds from now (Cerebras sends "33011.382867097855").
const (
	epochSeconds = 1e9
	epochMillis  = 1e12
)

// ParseReset reads a rate-limit reset sent at now, in any encoding in use:
// a Go duration ("6m0s", "12ms", "1m30.5s", OpenAI and Groq), an RFC 3339
// time (Anthropic), an HTTP date, epoch milliseconds (OpenRouter), epoch
// seconds, or seconds from now, possibly with a fraction (Cerebras). The
// result is at least now and at most now+[MaxDelay]; ok is false when s
// is none of these.
func ParseReset(s string, now time.Time) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	clamp := func(t time.Time) (time.Time, bool) {
		if t.Before(now) {
			return now, true
		}
		if t.Sub(now) > MaxDelay {
			return now.Add(MaxDelay), true
		}
		return t, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0) || f <= 0:
			return now, !math.IsNaN(f)
		case f >= epochMillis:
			sec, frac := math.Modf(f / 1000)
			return clamp(time.Unix(int64(sec), int64(frac*1e9)))
		case f >= epochSeconds:
			sec, frac := math.Modf(f)
			return clamp(time.Unix(int64(sec), int64(frac*1e9)))
		}
		return now.Add(secondsDelay(f)), true
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(clampDelay(d)), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return clamp(t)
	}
	if t, err := http.ParseTime(s); err == nil {
		return clamp(t)
	}
	return time.Time{}, false
}

// Spent reports whether a window is used up (its remaining count is 0)
// and, if so, until when the key must rest: the latest reset among the
// spent windows. A spent window without a reset rests for its Period when
// that is a minute or an hour; a longer or unknown one is not guessed
// (the upstream's refusal will say). reason names the spent windows.
func (rl RateLimit) Spent(now time.Time) (until time.Time, reason string, ok bool) {
	var kinds []string
	for _, w := range rl.Windows {
		if w.Remaining != 0 {
			continue
		}
		t := w.Reset
		if t.IsZero() {
			if w.Period == 0 || w.Period > time.Hour {
				continue
			}
			t = now.Add(w.Period)
		}
		if !t.After(now) {
			continue
		}
		if t.After(until) {
			until = t
		}
		kinds = append(kinds, w.name())
	}
	if until.IsZero() {
		return time.Time{}, "", false
	}
	return until, "rate limit spent: " + strings.Join(kinds, ", "), true
}

// name is the window's kind and period, "requests-day".
func (w Window) name() string {
	k := ident(w.Kind)
	if k == "" {
		k = "?"
	}
	switch w.Period {
	case time.Minute:
		return k + "-minute"
	case time.Hour:
		return k + "-hour"
	case 24 * time.Hour:
		return k + "-day"
	}
	return k
}
