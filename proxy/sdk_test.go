package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/api-jongler/jongler/jonglertest"
)

func genaiClient(t *testing.T, baseURL, apiKey string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      apiKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{},
		HTTPOptions: genai.HTTPOptions{BaseURL: baseURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGenAI: the Gen AI Go SDK, its API key being the proxy token, works
// through the proxy at / and at /gemini/, and a stream arrives in chunks.
func TestGenAI(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, base := range []string{f.proxy.URL, f.proxy.URL + "/gemini", f.proxy.URL + "/" + gemini} {
		c := genaiClient(t, base, token)
		resp, err := c.Models.GenerateContent(ctx, model, genai.Text("Hello"), nil)
		if err != nil {
			t.Fatalf("%s: generate: %v", base, err)
		}
		if !strings.Contains(resp.Text(), "Hello") {
			t.Fatalf("%s: answer %q does not quote the prompt", base, resp.Text())
		}
		var chunks []string
		for r, err := range c.Models.GenerateContentStream(ctx, model, genai.Text("Stream it"), nil) {
			if err != nil {
				t.Fatalf("%s: stream: %v", base, err)
			}
			chunks = append(chunks, r.Text())
		}
		if len(chunks) < 2 {
			t.Fatalf("%s: stream came in %d chunk(s), want several", base, len(chunks))
		}
	}
	st := f.srv.Stats()
	if st.Successes != 6 || st.Overlaps != 0 {
		t.Fatalf("upstream stats %+v: want 6 successes, no overlap", st.Counts)
	}
	noSecrets(t, "the logs", f.logs.String())
}

// TestGenAIWrongToken: the SDK sees a 401 API error.
func TestGenAIWrongToken(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	c := genaiClient(t, f.proxy.URL, "not-the-token")
	_, err := c.Models.GenerateContent(context.Background(), model, genai.Text("Hello"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 401 || ae.Status != "UNAUTHENTICATED" {
		t.Fatalf("err = %v, want a genai.APIError 401 UNAUTHENTICATED", err)
	}
	if f.srv.Stats().Requests != 0 {
		t.Fatal("a request with a wrong token reached the upstream")
	}
}

// TestGenAIExhaustion: once every key is over quota, the SDK gets its
// 429 API error, with a RetryInfo, on the exhausting request and after.
func TestGenAIExhaustion(t *testing.T) {
	f := newFixture(t, fixtureConfig{
		keys:   testKeys[:2],
		models: map[string]jonglertest.Quota{model: {RPM: 1, RPD: 1000}},
	})
	c := genaiClient(t, f.proxy.URL, token)
	ctx := context.Background()
	for range 2 {
		if _, err := c.Models.GenerateContent(ctx, model, genai.Text("Hello"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		_, err := c.Models.GenerateContent(ctx, model, genai.Text("Hello"), nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 429 || ae.Status != "RESOURCE_EXHAUSTED" {
			t.Fatalf("request %d: err = %v, want a genai.APIError 429", i, err)
		}
		if !hasRetryDelay(ae.Details) {
			t.Fatalf("request %d: details %v: want a RetryInfo", i, ae.Details)
		}
	}
}

func hasRetryDelay(details []map[string]any) bool {
	for _, d := range details {
		if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" && d["retryDelay"] != "" {
			return true
		}
	}
	return false
}

func openaiClient(baseURL, apiKey string) *openai.Client {
	c := openai.NewClient(
		option.WithBaseURL(baseURL),
		option.WithAPIKey(apiKey),
		option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{}),
	)
	return &c
}

// TestOpenAI: the OpenAI Go SDK on Gemini's OpenAI-compatible paths, chat
// completion and stream.
func TestOpenAI(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, base := range []string{f.proxy.URL + "/v1beta/openai/", f.proxy.URL + "/gemini/v1beta/openai/"} {
		c := openaiClient(base, token)
		params := openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		}
		cc, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("%s: chat: %v", base, err)
		}
		if len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "Hello") {
			t.Fatalf("%s: answer %+v", base, cc.Choices)
		}
		stream := c.Chat.Completions.NewStreaming(ctx, params)
		n := 0
		var text strings.Builder
		for stream.Next() {
			ch := stream.Current()
			if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
				n++
				text.WriteString(ch.Choices[0].Delta.Content)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s: stream: %v", base, err)
		}
		stream.Close()
		if n < 2 || !strings.Contains(text.String(), "Hello") {
			t.Fatalf("%s: stream gave %d chunk(s) %q, want several", base, n, text.String())
		}
	}
}

// TestOpenAIErrors: a wrong token and exhaustion give the SDK's errors,
// in OpenAI's shape, with a Retry-After on the 429.
func TestOpenAIErrors(t *testing.T) {
	f := newFixture(t, fixtureConfig{
		keys:   testKeys[:1],
		models: map[string]jonglertest.Quota{model: {RPM: 1, RPD: 1000}},
	})
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	}
	_, err := openaiClient(f.proxy.URL+"/v1beta/openai/", "wrong").Chat.Completions.New(ctx, params)
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 401 || oe.Code != "invalid_api_key" {
		t.Fatalf("wrong token: err = %v, want a 401 invalid_api_key", err)
	}
	c := openaiClient(f.proxy.URL+"/v1beta/openai/", token)
	if _, err := c.Chat.Completions.New(ctx, params); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		_, err := c.Chat.Completions.New(ctx, params)
		if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Response.Header.Get("Retry-After") == "" {
			t.Fatalf("request %d: err = %v, want a 429 with Retry-After", i, err)
		}
	}
}
