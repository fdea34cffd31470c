package jongler

import (
	"net/http"
	"time"

	"github.com/api-jongler/jongler/internal/upstream"
)

// DefaultZeroQuotaCooldown is how long a key rests for a model its tier may
// not use at all (quota value 0).
const DefaultZeroQuotaCooldown = 24 * time.Hour

// DefaultThrottleCooldown is how long a bare 429, one that names no quota
// and gives no hint, holds back a project, or every key when several
// projects get one at once.
const DefaultThrottleCooldown = 10 * time.Second

// GeminiPolicy reads the Gemini API's answers, native and OpenAI-compatible
// alike, as Google writes them:
//
//   - a per-minute quota (QuotaFailure, RetryInfo, or "Please retry in Ns."
//     in the message) cools the key's project down for that model until
//     the retry delay, else until the next minute;
//   - a per-day quota cools it down until the next midnight in
//     America/Los_Angeles, whatever the retry delay says;
//   - a quota of 0 cools it down for [DefaultZeroQuotaCooldown] for that
//     model only;
//   - a 429 with no quota and no hint holds back the key's project briefly,
//     and every key when several projects get one at once (the caller's
//     address is throttled, not a key);
//   - an invalid, expired, leaked, blocked or suspended key is refused for
//     good (ERROR); "caller does not have permission" refuses it for that
//     model only;
//   - 500, 503 and 504 are retried with backoff, key state unchanged;
//   - anything else (400 INVALID_ARGUMENT, FAILED_PRECONDITION, 404, ...) is
//     returned at once.
type GeminiPolicy struct {
	// ZeroQuotaCooldown overrides DefaultZeroQuotaCooldown.
	ZeroQuotaCooldown time.Duration
	// ThrottleCooldown overrides DefaultThrottleCooldown.
	ThrottleCooldown time.Duration
}

// Classify implements [Policy].
func (p GeminiPolicy) Classify(a *Answer) Verdict {
	if a.Status < 400 {
		return Verdict{Action: Accept}
	}
	ans := upstream.Google(a.Status, a.Body)
	model := ans.Model
	if model == "" {
		model = a.Model
	}
	switch ans.Kind {
	case upstream.QuotaMinute:
		until := a.Now.Add(ans.Delay)
		if ans.Delay <= 0 {
			if d, ok := RetryAfter(a.Header); ok {
				until = a.Now.Add(d)
			} else {
				until = a.Now.Truncate(time.Minute).Add(time.Minute)
			}
		}
		return Verdict{Action: Lockdown, Until: until, Model: model, Project: true, Reason: ans.Reason}
	case upstream.QuotaDay:
		return Verdict{Action: Lockdown, Until: upstream.NextPacificMidnight(a.Now), Model: model, Project: true, Reason: ans.Reason}
	case upstream.QuotaZero:
		return Verdict{Action: Lockdown, Until: a.Now.Add(orDefault(p.ZeroQuotaCooldown, DefaultZeroQuotaCooldown)), Model: model, Project: true, Reason: ans.Reason}
	case upstream.RateLimited:
		d, ok := RetryAfter(a.Header)
		if !ok {
			d = orDefault(p.ThrottleCooldown, DefaultThrottleCooldown)
		}
		return Verdict{Action: Throttle, Until: a.Now.Add(d), Reason: ans.Reason}
	case upstream.KeyInvalid, upstream.KeyLeaked, upstream.KeyBlocked, upstream.Unauthorized:
		return Verdict{Action: Disable, Reason: ans.Reason}
	case upstream.ModelDenied:
		return Verdict{Action: Disable, Model: model, Reason: ans.Reason}
	case upstream.Transient:
		return retryVerdict(a, ans.Delay, ans.Reason)
	case upstream.Unknown:
		return StatusPolicy{}.Classify(a)
	}
	return Verdict{Action: Accept, Reason: ans.Reason}
}

// retryVerdict retries after delay, else after Retry-After, else after the
// transport's backoff.
func retryVerdict(a *Answer, delay time.Duration, reason string) Verdict {
	if delay <= 0 {
		delay, _ = RetryAfter(a.Header)
	}
	return Verdict{Action: Retry, Wait: delay, Reason: reason}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// HuggingFacePolicy reads Hugging Face's answers: 401 refuses the token for
// good; 429 cools it down for Retry-After or Cooldown; 402 (monthly credits
// used up) cools it down until the first of next month, UTC; 503 "currently
// loading" waits the estimated time and tries again, token state unchanged,
// as do other 5xx answers after a backoff; anything else is returned.
type HuggingFacePolicy struct {
	// Cooldown is used for a 429 without Retry-After; zero means
	// [DefaultCooldown].
	Cooldown time.Duration
}

// Classify implements [Policy].
func (p HuggingFacePolicy) Classify(a *Answer) Verdict {
	if a.Status < 400 {
		return Verdict{Action: Accept}
	}
	ans := upstream.HuggingFace(a.Status, a.Body)
	switch ans.Kind {
	case upstream.Unauthorized, upstream.KeyInvalid:
		return Verdict{Action: Disable, Reason: ans.Reason}
	case upstream.ModelDenied:
		return Verdict{Action: Disable, Model: a.Model, Reason: ans.Reason}
	case upstream.RateLimited, upstream.QuotaMinute:
		d, ok := RetryAfter(a.Header)
		if !ok {
			d = orDefault(p.Cooldown, DefaultCooldown)
		}
		return Verdict{Action: Lockdown, Until: a.Now.Add(d), Reason: ans.Reason}
	case upstream.Credits:
		return Verdict{Action: Lockdown, Until: upstream.NextMonthUTC(a.Now), Reason: ans.Reason}
	case upstream.Loading, upstream.Transient:
		return retryVerdict(a, ans.Delay, ans.Reason)
	case upstream.Unknown:
		if a.Status == http.StatusTooManyRequests || a.Status == http.StatusUnauthorized {
			return StatusPolicy{Cooldown: p.Cooldown}.Classify(a)
		}
	}
	return Verdict{Action: Accept, Reason: ans.Reason}
}
