// Package upstream classifies the answers Google Gemini and Hugging Face give
// when they refuse a request, so that the key-rotation policy can decide what
// to do with the key (cool it down, disable it) and with the request (retry,
// return it at once).
//
// The package only parses: it makes no HTTP calls and keeps no mutable state.
// Every function is safe for concurrent use and never panics, whatever bytes
// it is given.
package upstream

import "time"

// Kind says what a refusal means for the key and for the request.
type Kind int

// The kinds of refusal. Their order is not a ranking.
const (
	// Unknown means the answer was not recognised: the caller applies its
	// default for the HTTP status.
	Unknown Kind = iota
	// QuotaMinute is a per-minute quota (requests or tokens, free or paid
	// tier) of one (project, model): cool down for Delay; Delay 0 means
	// "until the next minute".
	QuotaMinute
	// QuotaDay is a per-day quota of one (project, model): cool down until
	// NextPacificMidnight, whatever Delay says.
	QuotaDay
	// QuotaZero is a quota whose limit is 0: the key's project or tier
	// cannot use the model at all; cool that model down for a long time
	// (24h) on this key.
	QuotaZero
	// RateLimited is a 429 without quota details or retry hint; it may be
	// the caller's IP rather than the key.
	RateLimited
	// KeyInvalid is an invalid or expired API key: permanent.
	KeyInvalid
	// KeyLeaked is a key Google reported as leaked: permanent.
	KeyLeaked
	// KeyBlocked is a key whose project or service is blocked, suspended
	// or disabled: permanent.
	KeyBlocked
	// ModelDenied is a permission refusal for this (key, model) only:
	// permanent for that pair.
	ModelDenied
	// Transient is a server-side failure (500, 503 overloaded, 504): not
	// the key's fault; retry with backoff.
	Transient
	// BadRequest is the request's own fault (invalid argument, failed
	// precondition, unknown model): return it at once, do not retry.
	BadRequest
	// Unauthorized is a token or key the service does not accept for
	// authentication (Hugging Face 401, Google 401): permanent.
	Unauthorized
	// Credits means the account's monthly credits are used up (Hugging
	// Face 402): out until NextMonthUTC.
	Credits
	// Loading means the model is being loaded (Hugging Face 503): wait
	// Delay, the same key is fine.
	Loading
	// ResourceDenied is a 403 on a file or cached content that the key's
	// project did not create ("You do not have permission to access the
	// File", "CachedContent not found (or permission denied)"): the key is
	// fine; the request belongs with the owner's keys.
	ResourceDenied
)

var kindNames = [...]string{
	Unknown:        "Unknown",
	QuotaMinute:    "QuotaMinute",
	QuotaDay:       "QuotaDay",
	QuotaZero:      "QuotaZero",
	RateLimited:    "RateLimited",
	KeyInvalid:     "KeyInvalid",
	KeyLeaked:      "KeyLeaked",
	KeyBlocked:     "KeyBlocked",
	ModelDenied:    "ModelDenied",
	Transient:      "Transient",
	BadRequest:     "BadRequest",
	Unauthorized:   "Unauthorized",
	Credits:        "Credits",
	Loading:        "Loading",
	ResourceDenied: "ResourceDenied",
}

// String returns the constant's name, e.g. "QuotaDay".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// MaxDelay caps every Delay this package returns; a body asking for longer
// is clamped, so a garbled or hostile body cannot park a key for years. It
// is the one cap on every delay an upstream asks for: the root package's
// Retry-After parser uses it too, and so must any other hint (rate-limit
// reset headers).
const MaxDelay = 24 * time.Hour

// Answer is the classification of one refusal.
type Answer struct {
	// Kind says what the refusal means.
	Kind Kind
	// Model is the model named by the quota details or the message
	// ("gemini-2.5-flash", "google/gemma-2-9b-it"), without a "models/"
	// prefix; "" if none.
	Model string
	// Delay is the retry delay the body gives (RetryInfo, "Please retry in
	// Ns.", estimated_time), in [0, MaxDelay]; 0 if none.
	Delay time.Duration
	// QuotaID names the quota that was hit, e.g.
	// "GenerateRequestsPerDayPerProjectPerModel-FreeTier"; "" if none.
	QuotaID string
	// QuotaLimit is the quota's value when the answer gives it
	// (QuotaFailure's quotaValue, "limit: 10" in the message), else 0; a
	// zero quota is the QuotaZero kind.
	QuotaLimit int64
	// Requests says that the quota counts requests, not tokens.
	Requests bool
	// Reason is a short text for logs and status pages. It is built from
	// fixed phrases and validated identifiers only, never from free text
	// of the body, so it cannot echo request data.
	Reason string
}
