package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// hfBody is the JSON shape of a Hugging Face error: {"error": "..."} with,
// for a loading model, "estimated_time" in seconds. Some endpoints send
// "error" as a list of strings or as an OpenAI-style {"message": "..."}.
type hfBody struct {
	Error         json.RawMessage `json:"error"`
	Message       string          `json:"message"`
	EstimatedTime json.RawMessage `json:"estimated_time"`
}

// HuggingFace classifies a refusal from Hugging Face's inference endpoints
// (router.huggingface.co, api-inference) given its HTTP status and body.
// 401 (Unauthorized) and 402 (Credits) are decided by the status alone, as
// is any body that is not a JSON object. A 403 is Unauthorized when the
// token lacks the inference permission, else ModelDenied (gated model). A
// 429 is RateLimited, or Credits when it speaks of monthly credits; the
// wait, if any, is in the Retry-After header, which the caller reads.
func HuggingFace(status int, body []byte) Answer {
	switch status {
	case 401:
		return Answer{Kind: Unauthorized, Reason: "HF token not accepted"}
	case 402:
		return Answer{Kind: Credits, Reason: "HF monthly credits exhausted"}
	}
	b, ok := parseHF(body)
	if !ok {
		return statusOnly(status)
	}
	msg := hfMessage(b)
	lower := lowerASCII(msg)
	switch {
	case status == 403:
		if containsAny(lower, "sufficient permissions", "inference providers") {
			return Answer{Kind: Unauthorized, Reason: "HF token lacks the inference permission"}
		}
		return Answer{Kind: ModelDenied, Reason: "HF access to the model denied"}
	case status == 429:
		if strings.Contains(lower, "monthly") && strings.Contains(lower, "credits") {
			return Answer{Kind: Credits, Reason: "HF monthly credits exhausted"}
		}
		return Answer{Kind: RateLimited, Reason: "HF rate limited"}
	case status == 503 && (strings.Contains(lower, "loading") || len(b.EstimatedTime) > 0):
		a := Answer{Kind: Loading, Reason: "HF model loading"}
		if sec, err := strconv.ParseFloat(strings.Trim(string(b.EstimatedTime), `"`), 64); err == nil {
			a.Delay = secondsDelay(sec)
		} else {
			a.Delay, _ = retryHint(lower)
		}
		// "Model google/gemma-2-9b-it is currently loading"
		if i := strings.Index(lower, "model "); i >= 0 {
			rest := msg[i+len("model "):]
			a.Model = modelName(word(rest))
		}
		return a
	case status >= 500 && status <= 599:
		return Answer{Kind: Transient, Reason: "HF server error, HTTP " + strconv.Itoa(status)}
	case status == 400, status == 404, status == 413, status == 422:
		return Answer{Kind: BadRequest, Reason: "HF bad request, HTTP " + strconv.Itoa(status)}
	}
	return statusOnly(status)
}

// parseHF decodes a JSON object body; ok is false for anything else.
func parseHF(body []byte) (b hfBody, ok bool) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return b, false
	}
	var syntax *json.SyntaxError
	if err := json.Unmarshal(trimmed, &b); errors.As(err, &syntax) {
		return b, false
	}
	return b, true
}

// hfMessage returns the error text of a body in any of its shapes.
func hfMessage(b hfBody) string {
	raw := bytes.TrimLeft(b.Error, " \t\r\n")
	if len(raw) > 0 {
		switch raw[0] {
		case '"':
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
		case '[':
			var list []string
			_ = json.Unmarshal(raw, &list) // non-strings are left ""
			for _, s := range list {
				if s != "" {
					return s
				}
			}
		case '{':
			var obj struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(raw, &obj)
			if obj.Message != "" {
				return obj.Message
			}
		}
	}
	return b.Message
}
