// Package errshape writes the error answers that the proxy and the
// transport make up themselves (401 for a wrong proxy token, 429 when no key
// can serve, 502/504 when the upstream cannot be reached) in the shape the
// upstream's own errors have, so that SDKs raise their usual error types:
// Google's google.rpc.Status for the Gemini API's native paths, Anthropic's
// {"type":"error","error":{"type","message"}} for Anthropic, OpenAI's
// {"error":{"message","type","param","code"}} for OpenAI-compatible paths
// and the other connectors (OpenAI, Groq, OpenRouter, Mistral, Cerebras,
// Hugging Face).
//
// A body never holds the error that caused it (which could name an address
// or a credential): only the fixed messages given by the caller.
package errshape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Shape is the form of an upstream's error bodies.
type Shape int

const (
	// OpenAI is {"error":{"message":..,"type":..,"param":null,"code":..}}.
	OpenAI Shape = iota
	// Google is google.rpc.Status: {"error":{"code":..,"message":..,"status":..,"details":[..]}}.
	Google
	// Anthropic is {"type":"error","error":{"type":..,"message":..}}.
	Anthropic
)

// For returns the shape of the errors of a connector with the given policy
// ("gemini", "huggingface", ...) on the given request path: Google's on the
// Gemini API's native paths, OpenAI's on its OpenAI-compatible ones
// (/v1beta/openai/...) and for every other connector, most of which speak
// OpenAI's API.
func For(policy, path string) Shape {
	switch {
	case policy == "gemini" && !strings.Contains(path, "/openai/"):
		return Google
	case policy == "anthropic":
		return Anthropic
	}
	return OpenAI
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, rounded up,
// at least 1 (a client reading "0" would try again at once, and fail).
func RetryAfterSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// Body returns the error body of shape s for status with message msg; for a
// 429 with retryAfter > 0 a Google body carries a RetryInfo with that delay,
// as the Gemini API's own 429s do.
func Body(s Shape, status int, msg string, retryAfter time.Duration) []byte {
	var v any
	switch s {
	case Google:
		st := googleStatus{Code: status, Message: msg, Status: googleCode(status)}
		if status == http.StatusTooManyRequests && retryAfter > 0 {
			st.Details = []any{retryInfo{
				Type:       "type.googleapis.com/google.rpc.RetryInfo",
				RetryDelay: RetryAfterSeconds(retryAfter) + "s",
			}}
		}
		v = struct {
			Error googleStatus `json:"error"`
		}{st}
	case Anthropic:
		v = struct {
			Type  string         `json:"type"`
			Error anthropicError `json:"error"`
		}{"error", anthropicError{Type: anthropicType(status), Message: msg}}
	default:
		typ, code := openAIType(status)
		v = struct {
			Error openAIError `json:"error"`
		}{openAIError{Message: msg, Type: typ, Code: code}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("errshape: encode: %v", err)) // plain strings and ints: cannot happen
	}
	return buf.Bytes()
}

// Write answers w with status and the body of shape s, and a Retry-After
// header when retryAfter > 0.
func Write(w http.ResponseWriter, s Shape, status int, msg string, retryAfter time.Duration) {
	body := Body(s, status, msg, retryAfter)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfter > 0 {
		h.Set("Retry-After", RetryAfterSeconds(retryAfter))
	}
	w.WriteHeader(status)
	w.Write(body)
}

type googleStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []any  `json:"details,omitempty"`
}

type retryInfo struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"`
}

type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

type anthropicError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// anthropicType is the error type Anthropic's API sends with status.
func anthropicType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

// googleCode is the google.rpc.Code name Google's APIs send with status.
func googleCode(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// openAIType is the error type and code OpenAI's API sends with status.
func openAIType(status int) (typ, code string) {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case http.StatusNotFound:
		return "invalid_request_error", "not_found"
	case http.StatusRequestEntityTooLarge, http.StatusBadRequest:
		return "invalid_request_error", "invalid_request"
	case http.StatusGatewayTimeout:
		return "server_error", "timeout"
	case http.StatusServiceUnavailable:
		return "server_error", "service_unavailable"
	}
	return "server_error", "server_error"
}
