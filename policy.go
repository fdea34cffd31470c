package jongler

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
	"github.com/api-jongler/jongler/internal/upstream"
)

// Action says what a [Transport] does with an upstream answer.
type Action int

const (
	// ActionAccept returns the answer to the caller as it is.
	ActionAccept Action = iota
	// ActionLockdown cools the key down until [Verdict.Until] and sends the
	// request again with another key.
	ActionLockdown
	// ActionDisable refuses the key for good (state ERROR) and sends the request
	// again with another key.
	ActionDisable
	// ActionRetry sends the request again after [Verdict.Wait] (or the
	// transport's backoff when zero), key state unchanged: the upstream
	// failed, not the key.
	ActionRetry
	// ActionThrottle holds back every key of the connector until [Verdict.Until]:
	// the upstream throttles the caller, not one key.
	ActionThrottle
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "accept"
	case ActionLockdown:
		return "lockdown"
	case ActionDisable:
		return "disable"
	case ActionRetry:
		return "retry"
	case ActionThrottle:
		return "throttle"
	}
	return "unknown"
}

// Verdict is a [Policy]'s reading of one answer.
type Verdict struct {
	Action Action
	// Until is when a lockdown or throttle ends. On an Accept verdict, an
	// Until in the future rests the key (with Model and Project, as a
	// lockdown would) while the answer is returned as it is: the answer's
	// rate-limit headers say the key is spent until then.
	Until time.Time
	// Wait is how long to wait before a Retry; zero means the transport's
	// backoff.
	Wait time.Duration
	// Model limits a lockdown or refusal to one model; "" means every model.
	Model string
	// Project extends a lockdown to every key of the key's project, which
	// share quotas.
	Project bool
	// Reason says why, for logs and key states. It must not hold secrets.
	Reason string

	// learn is a request quota the answer states, for the transport to
	// learn (GeminiPolicy sets it).
	learn quota.Fact
}

// Answer is an upstream answer as a [Policy] sees it.
type Answer struct {
	// Status and Header are the response's.
	Status int
	Header http.Header
	// Body holds an error answer's body (up to the transport's bound); it
	// is nil for answers below 400, which are not read. A policy sees
	// those too, for their headers: it must accept them, and may rest the
	// key with Until.
	Body []byte
	// Model is the model the request names: in its path
	// (/v1beta/models/{model}:...), or else in the "model" field of an
	// OpenAI- or Anthropic-style JSON body; "" if neither does.
	Model string
	// Now is the transport's clock at the answer.
	Now time.Time
}

// A Policy reads an upstream answer and says what it means for the key and
// the request. A Transport consults it for every answer; the user may swap
// it with [WithPolicy].
type Policy interface {
	// Classify says what answer a means; it must not keep a or its body.
	Classify(a *Answer) Verdict
}

// PolicyFunc adapts a function to a [Policy].
type PolicyFunc func(a *Answer) Verdict

// Classify calls f(a).
func (f PolicyFunc) Classify(a *Answer) Verdict { return f(a) }

// defaultCooldown is how long a key cools down after a rate-limit answer
// that says nothing of when to come back.
const defaultCooldown = time.Minute

// StatusPolicy reads status codes and the Retry-After header alone:
// 429 and 509 cool the key down for Retry-After or Cooldown, 401 refuses
// the key for good; anything else is returned as it is.
type StatusPolicy struct {
	// Cooldown is used when Retry-After is absent; zero means
	// one minute.
	Cooldown time.Duration
}

// Classify implements [Policy].
func (p StatusPolicy) Classify(a *Answer) Verdict {
	switch a.Status {
	case http.StatusTooManyRequests, 509:
		return Verdict{Action: ActionLockdown, Until: a.Now.Add(p.cooldown(a)), Reason: statusReason(a.Status) + retryAfterText(a)}
	case http.StatusUnauthorized:
		return Verdict{Action: ActionDisable, Reason: "401 Unauthorized"}
	}
	return Verdict{Action: ActionAccept}
}

func (p StatusPolicy) cooldown(a *Answer) time.Duration {
	if d, ok := retryAfter(a.Header); ok {
		return d
	}
	if p.Cooldown > 0 {
		return p.Cooldown
	}
	return defaultCooldown
}

func retryAfterText(a *Answer) string {
	if _, ok := retryAfter(a.Header); ok {
		return " (Retry-After " + a.Header.Get("Retry-After") + ")"
	}
	return ""
}

func statusReason(code int) string {
	if code == 509 {
		return "509 Bandwidth Limit Exceeded"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date
// (any of the three forms of RFC 9110), capped at 24 hours like every
// delay an upstream asks for (see [maxHintedDelay]), with the parser the
// rate-limit headers use. It reports false when the header is absent,
// unreadable, zero or in the past.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := h["Retry-After"]
	if len(v) == 0 {
		return 0, false
	}
	s := strings.TrimSpace(v[0])
	if strings.Trim(s, "0123456789") != "" {
		// Not delay-seconds, which are digits only: it must be a date.
		if _, err := http.ParseTime(s); err != nil {
			return 0, false
		}
	}
	d, ok := upstream.RetryAfter(s, time.Now())
	return d, ok && d > 0
}

// maxHintedDelay caps every wait or cooldown an upstream asks for, whatever
// says it: Retry-After in seconds or as a date, Google's
// RetryInfo.retryDelay, "Please retry in Ns.", Hugging Face's
// estimated_time (internal/upstream clamps those with the same constant).
// A day is the longest window any supported upstream imposes; longer
// is a garbled or hostile answer, which must not park a key for years.
// Windows the policies compute themselves from the clock (a Gemini
// per-day quota until the next Pacific midnight, up to 25 hours on the
// day clocks go back; Hugging Face credits until next month) are no hint
// and are not capped.
const maxHintedDelay = upstream.MaxDelay

// PolicyFor returns the policy that reads the answers of connector c, as
// its "policy" field names it: [GeminiPolicy] for "gemini",
// [HuggingFacePolicy] for "huggingface"; for "openai", "anthropic",
// "groq", "openrouter", "mistral" and "cerebras", a policy that reads the
// provider's rate-limit headers on every answer, 2xx included, and rests a
// key whose requests or tokens are spent until the reset, before it gets a
// 429 (a connector of your own for an OpenAI-compatible service may name
// "openai"); else [StatusPolicy].
func PolicyFor(c Connector) Policy {
	switch c.Policy {
	case "gemini":
		return GeminiPolicy{}
	case "huggingface":
		return HuggingFacePolicy{}
	}
	if isHeaderPolicy(c.Policy) {
		return headerPolicy{provider: c.Policy}
	}
	return StatusPolicy{}
}
