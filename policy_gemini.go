package jongler

import (
	"net/http"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
	"github.com/api-jongler/jongler/internal/upstream"
)

// defaultZeroQuotaCooldown is how long a key rests for a model its tier may
// not use at all (quota value 0).
const defaultZeroQuotaCooldown = 24 * time.Hour

// defaultThrottleCooldown is how long a bare 429, one that names no quota
// and gives no hint, holds back a project, or every key when several
// projects get one at once.
const defaultThrottleCooldown = 10 * time.Second

// GeminiPolicy reads the Gemini API's answers, native and OpenAI-compatible
// alike, as Google writes them:
//
//   - a per-minute quota (QuotaFailure, RetryInfo, or "Please retry in Ns."
//     in the message) cools the key's project down for that model until
//     the retry delay, else until the next minute;
//   - a per-day quota cools it down until the next midnight in
//     America/Los_Angeles, whatever the retry delay says;
//   - either, when it counts requests and gives its value (quotaValue,
//     "limit: N"), is learned: the transport spends it as a budget of the
//     project for that model from then on (see [LearnedQuota]);
//   - a quota of 0 cools it down for ZeroQuotaCooldown (24h) for that
//     model only;
//   - a 429 with no quota and no hint holds back the key's project briefly,
//     and every key when several projects get one at once (the caller's
//     address is throttled, not a key);
//   - an invalid, expired, leaked, blocked or suspended key is refused for
//     good (ERROR); "caller does not have permission" refuses it for that
//     model only;
//   - a 403 on a file or cached content of another project is returned at
//     once, the key unharmed (the transport sends requests naming resources
//     it saw created to their project's keys);
//   - 500, 503 and 504 are retried with backoff, key state unchanged;
//   - anything else (400 INVALID_ARGUMENT, FAILED_PRECONDITION, 404, ...) is
//     returned at once.
type GeminiPolicy struct {
	// ZeroQuotaCooldown is how long a key rests for a model its tier may
	// not use at all (quota value 0); zero means 24h.
	ZeroQuotaCooldown time.Duration
	// ThrottleCooldown is how long a bare 429, naming no quota and giving
	// no hint, holds back a project (or every key, when several projects
	// get one at once); zero means 10s.
	ThrottleCooldown time.Duration
}

// Classify implements [Policy].
func (p GeminiPolicy) Classify(a *Answer) Verdict {
	if a.Status < 400 {
		return Verdict{Action: ActionAccept}
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
			if d, ok := retryAfter(a.Header); ok {
				until = a.Now.Add(d)
			} else {
				until = a.Now.Truncate(time.Minute).Add(time.Minute)
			}
		}
		return Verdict{Action: ActionLockdown, Until: until, Model: model, Project: true, Reason: ans.Reason, learn: requestQuota(ans, "minute")}
	case upstream.QuotaDay:
		return Verdict{Action: ActionLockdown, Until: upstream.NextPacificMidnight(a.Now), Model: model, Project: true, Reason: ans.Reason, learn: requestQuota(ans, "day")}
	case upstream.QuotaZero:
		return Verdict{Action: ActionLockdown, Until: a.Now.Add(orDefault(p.ZeroQuotaCooldown, defaultZeroQuotaCooldown)), Model: model, Project: true, Reason: ans.Reason}
	case upstream.RateLimited:
		d, ok := retryAfter(a.Header)
		if !ok {
			d = orDefault(p.ThrottleCooldown, defaultThrottleCooldown)
		}
		return Verdict{Action: ActionThrottle, Until: a.Now.Add(d), Reason: ans.Reason}
	case upstream.KeyInvalid, upstream.KeyLeaked, upstream.KeyBlocked, upstream.Unauthorized:
		return Verdict{Action: ActionDisable, Reason: ans.Reason}
	case upstream.ModelDenied:
		return Verdict{Action: ActionDisable, Model: model, Reason: ans.Reason}
	case upstream.ResourceDenied:
		return Verdict{Action: ActionAccept, Reason: ans.Reason}
	case upstream.Transient:
		return retryVerdict(a, ans.Delay, ans.Reason)
	case upstream.Unknown:
		return StatusPolicy{}.Classify(a)
	}
	return Verdict{Action: ActionAccept, Reason: ans.Reason}
}

// retryVerdict retries after delay, else after Retry-After, else after the
// transport's backoff.
func retryVerdict(a *Answer, delay time.Duration, reason string) Verdict {
	if delay <= 0 {
		delay, _ = retryAfter(a.Header)
	}
	return Verdict{Action: ActionRetry, Wait: delay, Reason: reason}
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
	// one minute.
	Cooldown time.Duration
}

// Classify implements [Policy].
func (p HuggingFacePolicy) Classify(a *Answer) Verdict {
	if a.Status < 400 {
		return Verdict{Action: ActionAccept}
	}
	ans := upstream.HuggingFace(a.Status, a.Body)
	switch ans.Kind {
	case upstream.Unauthorized, upstream.KeyInvalid:
		return Verdict{Action: ActionDisable, Reason: ans.Reason}
	case upstream.ModelDenied:
		return Verdict{Action: ActionDisable, Model: a.Model, Reason: ans.Reason}
	case upstream.RateLimited, upstream.QuotaMinute:
		d, ok := retryAfter(a.Header)
		if !ok {
			d = orDefault(p.Cooldown, defaultCooldown)
		}
		return Verdict{Action: ActionLockdown, Until: a.Now.Add(d), Reason: ans.Reason}
	case upstream.Credits:
		return Verdict{Action: ActionLockdown, Until: upstream.NextMonthUTC(a.Now), Reason: ans.Reason}
	case upstream.Loading, upstream.Transient:
		return retryVerdict(a, ans.Delay, ans.Reason)
	case upstream.Unknown:
		if a.Status == http.StatusTooManyRequests || a.Status == http.StatusUnauthorized {
			return StatusPolicy{Cooldown: p.Cooldown}.Classify(a)
		}
	}
	return Verdict{Action: ActionAccept, Reason: ans.Reason}
}

// requestQuota is the request quota of window a refusal states, to be
// learned; zero when it names tokens, or no value.
func requestQuota(ans upstream.Answer, window string) quota.Fact {
	if !ans.Requests || ans.QuotaLimit <= 0 || ans.QuotaLimit > 1<<30 {
		return quota.Fact{}
	}
	from := ans.QuotaID
	if from == "" {
		from = ans.Reason
	}
	return quota.Fact{Window: window, Limit: int(ans.QuotaLimit), From: from}
}
