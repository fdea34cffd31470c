package upstream

import (
	"testing"
	"time"
)

func TestHuggingFaceFixtures(t *testing.T) {
	want := map[string]Answer{
		"huggingface/401-invalid-token.json":     {Kind: Unauthorized, Reason: "HF token not accepted"},
		"huggingface/402-credits-exhausted.json": {Kind: Credits, Reason: "HF monthly credits exhausted"},
		"huggingface/503-model-loading.json": {
			Kind: Loading, Model: "google/gemma-2-9b-it", Delay: 20 * time.Second, Reason: "HF model loading",
		},
	}
	checkFixtures(t, "huggingface", "HuggingFace", HuggingFace, want)
}

func TestHuggingFaceVariants(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Answer // Reason checked only when set
	}{
		{"loading, time first, fractional", 503,
			`{"estimated_time":12.75,"error":"Model meta-llama/Llama-3.1-8B-Instruct is currently loading"}`,
			Answer{Kind: Loading, Model: "meta-llama/Llama-3.1-8B-Instruct", Delay: 12750 * time.Millisecond}},
		{"loading without estimated_time", 503,
			`{"error":"Model google/gemma-2-9b-it is currently loading"}`,
			Answer{Kind: Loading, Model: "google/gemma-2-9b-it"}},
		{"estimated_time as a string", 503,
			`{"error":"Model x/y is currently loading","estimated_time":"7"}`,
			Answer{Kind: Loading, Model: "x/y", Delay: 7 * time.Second}},
		{"estimated_time only", 503,
			`{"estimated_time":3}`,
			Answer{Kind: Loading, Delay: 3 * time.Second}},
		{"estimated_time huge", 503,
			`{"error":"loading","estimated_time":1e300}`,
			Answer{Kind: Loading, Delay: MaxDelay}},
		{"estimated_time negative", 503,
			`{"error":"loading","estimated_time":-4}`,
			Answer{Kind: Loading}},
		{"loading, OpenAI-style error object", 503,
			`{"error":{"message":"Model Qwen/Qwen2.5-7B is currently loading","type":"server_error"}}`,
			Answer{Kind: Loading, Model: "Qwen/Qwen2.5-7B"}},
		{"503 not loading", 503,
			`{"error":"Service Unavailable"}`,
			Answer{Kind: Transient, Reason: "HF server error, HTTP 503"}},
		{"overloaded", 503,
			`{"error":"Model is overloaded","error_type":"overloaded"}`,
			Answer{Kind: Transient}},
		{"bad gateway", 502, `{"error":"Bad Gateway"}`, Answer{Kind: Transient}},
		{"401 reworded", 401, `{"error":"Invalid username or password."}`, Answer{Kind: Unauthorized}},
		{"402 reworded", 402, `{"error":"You have depleted your monthly included credits."}`, Answer{Kind: Credits}},
		{"429 credits, old style", 429, `{"error":"You have exceeded your monthly included credits for Inference Providers."}`, Answer{Kind: Credits}},
		{"429 rate limit", 429, `{"error":"Rate limit reached. You reached free usage limit (reset hourly)."}`, Answer{Kind: RateLimited, Reason: "HF rate limited"}},
		{"403 token scope", 403,
			`{"error":"This authentication method does not have sufficient permissions to call Inference Providers on behalf of user someone"}`,
			Answer{Kind: Unauthorized}},
		{"403 gated model", 403,
			`{"error":"Access to model meta-llama/Llama-3.1-8B is restricted. You must have access to it and be authenticated to access it. Please log in."}`,
			Answer{Kind: ModelDenied}},
		{"404", 404, `{"error":"Model not found"}`, Answer{Kind: BadRequest, Reason: "HF bad request, HTTP 404"}},
		{"422 list of errors", 422, `{"error":["Input validation error: inputs must have less than 4096 tokens"]}`, Answer{Kind: BadRequest}},
		{"400 with message field", 400, `{"message":"bad input"}`, Answer{Kind: BadRequest}},
		// Garbage: decided by status alone.
		{"401 html", 401, `<html>401</html>`, Answer{Kind: Unauthorized}},
		{"402 empty", 402, ``, Answer{Kind: Credits}},
		{"503 html", 503, `<html>loading</html>`, Answer{Kind: Transient}},
		{"500 truncated", 500, `{"error":"x`, Answer{Kind: Transient}},
		{"404 text", 404, `Not Found`, Answer{Kind: Unknown, Reason: "unrecognised answer, HTTP 404"}},
		{"429 array", 429, `[{"error":"x"}]`, Answer{Kind: Unknown}},
		{"200 object", 200, `{"generated_text":"hi"}`, Answer{Kind: Unknown}},
		{"error of wrong types", 503, `{"error":[1,{"a":2}],"estimated_time":{"x":1}}`, Answer{Kind: Loading}},
		{"model name with junk is dropped", 503, `{"error":"Model <b>x</b> is currently loading","estimated_time":1}`, Answer{Kind: Loading, Delay: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HuggingFace(tt.status, []byte(tt.body))
			if tt.want.Reason == "" {
				got.Reason = ""
			}
			if got != tt.want {
				t.Errorf("HuggingFace(%d, %s)\n got %+v\nwant %+v", tt.status, tt.body, got, tt.want)
			}
		})
	}
}
