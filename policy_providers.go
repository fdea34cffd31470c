package jongler

import (
	"time"

	"github.com/api-jongler/jongler/internal/upstream"
)

// headerPolicy reads the answers of the providers that say where a key
// stands in rate-limit headers on every answer: OpenAI, Anthropic, Groq,
// OpenRouter, Mistral and Cerebras (see [PolicyFor]).
//
//   - Any answer, 2xx included, whose headers say that a window is spent
//     (remaining requests or tokens 0) rests the key's project until the
//     window's reset; the answer itself is returned as it is.
//   - 429 cools the key's project down until Retry-After (retry-after-ms),
//     else the reset of the spent window, else the delay the message gives
//     ("Please try again in 20s"), else the next UTC midnight for
//     OpenRouter's daily free-model limit, else [defaultCooldown].
//   - 401, 402 and an exhausted prepaid quota (insufficient_quota, "credit
//     balance is too low") refuse the key for good (ERROR); a 403 refuses it
//     for the model (for every model when the request names none), except
//     OpenRouter's moderation 403 and OpenAI's unsupported region, which
//     are the request's.
//   - 408, 5xx and Anthropic's 529 overloaded are retried with backoff, key
//     state unchanged.
//   - Any other 4xx is the request's fault: returned at once.
//
// Cooldowns hold for the model the request names, except OpenRouter's,
// whose limits are the key's across models. They extend to every key of
// the project (the INI file's ":projects" section), since OpenAI projects,
// Groq and Cerebras organisations and OpenRouter accounts share limits.
type headerPolicy struct {
	provider string
}

// Classify implements [Policy].
func (p headerPolicy) Classify(a *Answer) Verdict {
	rl := upstream.ReadRateLimit(a.Header, a.Now)
	model := a.Model
	if p.provider == upstream.ProviderOpenRouter {
		model = ""
	}
	if a.Status < 400 {
		return spentVerdict(rl, a.Now, model)
	}
	ans := upstream.Provider(p.provider, a.Status, a.Body)
	if ans.Headers != nil && len(rl.Windows) == 0 {
		body := upstream.ReadRateLimit(ans.Headers, a.Now)
		rl.Windows = body.Windows
		if !rl.HasRetryAfter {
			rl.RetryAfter, rl.HasRetryAfter = body.RetryAfter, body.HasRetryAfter
		}
	}
	switch ans.Kind {
	case upstream.Unauthorized, upstream.Credits:
		return Verdict{Action: ActionDisable, Reason: ans.Reason}
	case upstream.ModelDenied:
		return Verdict{Action: ActionDisable, Model: a.Model, Reason: ans.Reason}
	case upstream.RateLimited, upstream.QuotaMinute, upstream.QuotaDay:
		return Verdict{Action: ActionLockdown, Until: p.restUntil(a, rl, ans.Answer), Model: model, Project: true, Reason: ans.Reason}
	case upstream.Transient:
		return retryVerdict(a, max(ans.Delay, rl.RetryAfter), ans.Reason)
	}
	v := spentVerdict(rl, a.Now, model)
	if v.Reason == "" {
		v.Reason = ans.Reason
	}
	return v
}

// spentVerdict accepts an answer and, when its headers say a window is
// spent, rests the key until the window's reset.
func spentVerdict(rl upstream.RateLimit, now time.Time, model string) Verdict {
	until, reason, ok := rl.Spent(now)
	if !ok {
		return Verdict{Action: ActionAccept}
	}
	return Verdict{Action: ActionAccept, Until: until, Model: model, Project: true, Reason: reason}
}

// restUntil is when a rate-limited key may be sent a request again.
func (p headerPolicy) restUntil(a *Answer, rl upstream.RateLimit, ans upstream.Answer) time.Time {
	if rl.HasRetryAfter && rl.RetryAfter > 0 {
		return a.Now.Add(rl.RetryAfter)
	}
	if until, _, ok := rl.Spent(a.Now); ok {
		return until
	}
	if ans.Delay > 0 {
		return a.Now.Add(ans.Delay)
	}
	if ans.Kind == upstream.QuotaDay && p.provider == upstream.ProviderOpenRouter {
		y, m, d := a.Now.UTC().Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	return a.Now.Add(defaultCooldown)
}

// policyNames lists the values of a connector's "policy" field, for errors.
const policyNames = `"gemini", "huggingface", "openai", "anthropic", "groq", "openrouter", "mistral", "cerebras"`

// isHeaderPolicy reports whether name is a provider headerPolicy reads.
func isHeaderPolicy(name string) bool {
	switch name {
	case upstream.ProviderOpenAI, upstream.ProviderAnthropic, upstream.ProviderGroq,
		upstream.ProviderOpenRouter, upstream.ProviderMistral, upstream.ProviderCerebras:
		return true
	}
	return false
}
