package jonglertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The bodies below reproduce, field for field and in the same order, the
// answers Google's Gemini API sends (see testdata/*.json, copied from
// real-world reports); body_test.go checks them against those files.

const (
	msgAPIKeyInvalid = "API key not valid. Please pass a valid API key."
	msgLeaked        = "Your API key was reported as leaked. Please use another API key."
	msgInternal      = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	msgOverloaded    = "The model is overloaded. Please try again later."
	msgExhausted     = "Resource has been exhausted (e.g. check quota)."
	msgQuota         = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
	msgQuotaMonitor  = " To monitor your current usage, head to: https://ai.dev/rate-limit. "
	msgUnregistered  = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
	msgMultipleCreds = "Multiple authentication credentials received. Please only provide one."

	quotaMetric   = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
	quotaIDPerMin = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	// The input-token quota's, as Google names them.
	quotaMetricTokens = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count"
	quotaIDTokens     = "GenerateContentInputTokensPerModelPerMinute-FreeTier"
	quotaIDPerDay     = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
	rateLimitsDocs    = "https://ai.google.dev/gemini-api/docs/rate-limits"
)

type errorBody struct {
	Error errorStatus `json:"error"`
}

type errorStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []any  `json:"details,omitempty"`
}

type errorInfo struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

type localizedMessage struct {
	Type    string `json:"@type"`
	Locale  string `json:"locale"`
	Message string `json:"message"`
}

type badRequest struct {
	Type            string           `json:"@type"`
	FieldViolations []fieldViolation `json:"fieldViolations"`
}

type fieldViolation struct {
	Description string `json:"description"`
}

type quotaFailure struct {
	Type       string           `json:"@type"`
	Violations []quotaViolation `json:"violations"`
}

type quotaViolation struct {
	QuotaMetric     string          `json:"quotaMetric"`
	QuotaID         string          `json:"quotaId"`
	QuotaDimensions quotaDimensions `json:"quotaDimensions"`
	QuotaValue      string          `json:"quotaValue"`
}

type quotaDimensions struct {
	Location string `json:"location"`
	Model    string `json:"model"`
}

type help struct {
	Type  string     `json:"@type"`
	Links []helpLink `json:"links"`
}

type helpLink struct {
	Description string `json:"description"`
	URL         string `json:"url"`
}

type retryInfo struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"`
}

func plainError(code int, status, message string) errorBody {
	return errorBody{Error: errorStatus{Code: code, Message: message, Status: status}}
}

func apiKeyInvalidError() errorBody {
	b := plainError(400, "INVALID_ARGUMENT", msgAPIKeyInvalid)
	b.Error.Details = []any{
		errorInfo{
			Type:     "type.googleapis.com/google.rpc.ErrorInfo",
			Reason:   "API_KEY_INVALID",
			Domain:   "googleapis.com",
			Metadata: map[string]string{"service": "generativelanguage.googleapis.com"},
		},
		localizedMessage{
			Type:    "type.googleapis.com/google.rpc.LocalizedMessage",
			Locale:  "en-US",
			Message: msgAPIKeyInvalid,
		},
	}
	return b
}

func badRequestError(message string) errorBody {
	b := plainError(400, "INVALID_ARGUMENT", message)
	b.Error.Details = []any{badRequest{
		Type:            "type.googleapis.com/google.rpc.BadRequest",
		FieldViolations: []fieldViolation{{Description: message}},
	}}
	return b
}

func modelNotFoundError(version, model, method string) errorBody {
	return plainError(404, "NOT_FOUND", fmt.Sprintf(
		"models/%s is not found for API version %s, or is not supported for %s. "+
			"Call ListModels to see the list of available models and their supported methods.",
		model, version, method))
}

func quotaError(model string, r *refusal, messageOnly bool) errorBody {
	helpDetail := help{
		Type:  "type.googleapis.com/google.rpc.Help",
		Links: []helpLink{{Description: "Learn more about Gemini API quotas", URL: rateLimitsDocs}},
	}
	delay := protoDuration(r.delay)
	id, metric := quotaIDPerMin, quotaMetric
	switch {
	case r.perDay:
		id = quotaIDPerDay
	case r.tokens:
		id, metric = quotaIDTokens, quotaMetricTokens
	}
	if messageOnly {
		msg := fmt.Sprintf("%s%s\n* Quota exceeded for metric: %s, limit: %d, model: %s\nPlease retry in %s.",
			msgQuota, msgQuotaMonitor, metric, r.limit, model, delay)
		b := plainError(429, "RESOURCE_EXHAUSTED", msg)
		b.Error.Details = []any{helpDetail}
		return b
	}
	b := plainError(429, "RESOURCE_EXHAUSTED", msgQuota)
	b.Error.Details = []any{
		quotaFailure{
			Type: "type.googleapis.com/google.rpc.QuotaFailure",
			Violations: []quotaViolation{{
				QuotaMetric:     metric,
				QuotaID:         id,
				QuotaDimensions: quotaDimensions{Location: "global", Model: model},
				QuotaValue:      fmt.Sprint(r.limit),
			}},
		},
		helpDetail,
		retryInfo{Type: "type.googleapis.com/google.rpc.RetryInfo", RetryDelay: delay},
	}
	return b
}

// protoDuration formats d the way protobuf's JSON mapping does: seconds with
// 0, 3, 6 or 9 fractional digits and a trailing "s", e.g. "5s", "26.500s",
// "39.006833842s".
func protoDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	sec, nanos := d/time.Second, d%time.Second
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, sec)
	}
	frac := fmt.Sprintf("%09d", nanos)
	for strings.HasSuffix(frac, "000") {
		frac = frac[:len(frac)-3]
	}
	return fmt.Sprintf("%s%d.%ss", sign, sec, frac)
}

// marshal encodes v as compact JSON without HTML escaping, ending in a
// newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("jonglertest: encoding a response: " + err.Error())
	}
	return buf.Bytes()
}
