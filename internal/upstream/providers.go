package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Providers whose refusals [Provider] reads. Their error bodies share the
// OpenAI shape {"error":{"message","type","code"}} or a close variant.
const (
	ProviderOpenAI     = "openai"
	ProviderAnthropic  = "anthropic"
	ProviderGroq       = "groq"
	ProviderOpenRouter = "openrouter"
	ProviderMistral    = "mistral"
	ProviderCerebras   = "cerebras"
)

// pBody is the union of the error shapes of the providers:
//
//	OpenAI, Groq:   {"error":{"message","type","param","code"}}
//	Anthropic:      {"type":"error","error":{"type","message"}}
//	OpenRouter:     {"error":{"code":429,"message","metadata":{"headers":{...},"provider_name"}}}
//	Cerebras:       {"message","type","param","code"} (flat) or the OpenAI shape
//	Mistral:        {"object":"error","message","type","code"} or {"message"} or {"detail"}
type (
	pBody struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Detail  json.RawMessage `json:"detail"`
	}
	pError struct {
		Message  string          `json:"message"`
		Type     string          `json:"type"`
		Code     json.RawMessage `json:"code"`
		Metadata pMetadata       `json:"metadata"`
		Status   json.RawMessage `json:"status"`
	}
	pMetadata struct {
		Headers      map[string]json.RawMessage `json:"headers"`
		ProviderName string                     `json:"provider_name"`
	}
)

// providerFacts is what one body says, gathered in one pass.
type providerFacts struct {
	msg, lower string // message as sent, and lowered
	typ, code  string // validated identifiers, lowered
	headers    http.Header
	provider   bool // OpenRouter names the upstream provider that failed
}

func parseProvider(body []byte) (providerFacts, bool) {
	var f providerFacts
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f, false
	}
	var b pBody
	var syntax *json.SyntaxError
	if err := json.Unmarshal(trimmed, &b); errors.As(err, &syntax) {
		return f, false
	}
	f.typ, f.code = lowerASCII(ident(b.Type)), lowerASCII(ident(rawString(b.Code)))
	f.msg = rawString(b.Message)
	if f.msg == "" {
		f.msg = rawString(b.Detail)
	}
	raw := bytes.TrimLeft(b.Error, " \t\r\n")
	switch {
	case len(raw) > 0 && raw[0] == '{':
		var e pError
		_ = json.Unmarshal(raw, &e) // fields of an unexpected type stay zero
		if e.Message != "" {
			f.msg = e.Message
		}
		if t := lowerASCII(ident(e.Type)); t != "" {
			f.typ = t
		}
		if c := lowerASCII(ident(rawString(e.Code))); c != "" {
			f.code = c
		}
		if len(e.Metadata.Headers) > 0 {
			f.headers = http.Header{}
			for k, v := range e.Metadata.Headers {
				if s := rawString(v); s != "" {
					f.headers.Set(k, s)
				}
			}
		}
		f.provider = e.Metadata.ProviderName != ""
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil && f.msg == "" {
			f.msg = s
		}
	}
	f.lower = lowerASCII(f.msg)
	return f, true
}

// rawString returns a JSON string's text, a number's digits, or "".
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

// ProviderAnswer is a refusal classified by [Provider].
type ProviderAnswer struct {
	Answer
	// Headers holds rate-limit headers a body carries (OpenRouter copies
	// them into error.metadata.headers); nil if none.
	Headers http.Header
}

// Provider classifies a refusal from one of the OpenAI-compatible and
// Anthropic providers given its HTTP status and body:
//
//   - 401 is Unauthorized; 402 and an exhausted prepaid balance
//     (insufficient_quota, "credit balance is too low") are Credits; a 403
//     is ModelDenied (the key may not use this), except OpenRouter's
//     moderation 403 and OpenAI's unsupported region, which are
//     BadRequest;
//   - 429 is RateLimited (Delay from "try again in 20s" when the message
//     says so), except OpenRouter's upstream-provider 429, which is
//     Transient;
//   - 408, 5xx, Anthropic's 529 overloaded and Groq's 498 (flex tier at
//     capacity) are Transient;
//   - other 4xx are BadRequest.
//
// The body may be anything; only the status decides when it is not JSON.
func Provider(provider string, status int, body []byte) ProviderAnswer {
	f, _ := parseProvider(body)
	a := ProviderAnswer{Headers: f.headers}
	a.Answer = f.decide(provider, status)
	return a
}

func (f *providerFacts) decide(provider string, st int) Answer {
	tag := func(phrase string) string { return join(provider+": "+phrase, f.code) }
	credits := f.typ == "insufficient_quota" || f.code == "insufficient_quota" ||
		strings.Contains(f.lower, "credit balance is too low") ||
		strings.Contains(f.lower, "insufficient credits") ||
		strings.Contains(f.lower, "exceeded your current quota")
	switch {
	case st == 401:
		return Answer{Kind: Unauthorized, Reason: tag("credentials not accepted, HTTP 401")}
	case st == 402:
		return Answer{Kind: Credits, Reason: tag("credits exhausted, HTTP 402")}
	case credits && (st == 400 || st == 403 || st == 429):
		return Answer{Kind: Credits, Reason: tag("credits or quota exhausted")}
	case st == 403:
		if provider == ProviderOpenRouter || f.code == "unsupported_country_region_territory" ||
			strings.Contains(f.lower, "flagged") || strings.Contains(f.lower, "country, region, or territory") {
			return Answer{Kind: BadRequest, Reason: tag("request refused, HTTP 403")}
		}
		return Answer{Kind: ModelDenied, Reason: tag("permission denied, HTTP 403")}
	case st == 429:
		if provider == ProviderOpenRouter && f.provider && f.headers == nil {
			// The provider behind OpenRouter throttles everyone: not this key.
			return Answer{Kind: Transient, Reason: "openrouter: upstream provider rate-limited"}
		}
		a := Answer{Kind: RateLimited, Reason: tag("rate limited")}
		a.Delay, _ = retryHint(f.lower)
		switch {
		case strings.Contains(f.lower, "per-day"), strings.Contains(f.lower, "per day"), strings.Contains(f.lower, "(rpd)"),
			strings.Contains(f.lower, "(tpd)"), strings.Contains(f.lower, "daily"):
			a.Kind = QuotaDay
		case strings.Contains(f.lower, "per-min"), strings.Contains(f.lower, "per min"), strings.Contains(f.lower, "(rpm)"),
			strings.Contains(f.lower, "(tpm)"):
			a.Kind = QuotaMinute
		}
		return a
	case st == 408 || st == 529 || st == 498 && provider == ProviderGroq || st >= 500 && st <= 599 || f.typ == "overloaded_error":
		return Answer{Kind: Transient, Reason: tag("transient, HTTP " + strconv.Itoa(st))}
	case st >= 400 && st <= 499:
		return Answer{Kind: BadRequest, Reason: tag("bad request, HTTP " + strconv.Itoa(st))}
	}
	return statusOnly(st)
}
