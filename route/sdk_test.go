package route_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/api-jongler/jongler/internal/routetest"
	"github.com/api-jongler/jongler/route"
)

// TestOpenAIGo: the OpenAI Go SDK against the handler over three
// simulated tiers: a route falling through them, a pinned target, a
// models list, a stream, and 429 with Retry-After once all are spent.
func TestOpenAIGo(t *testing.T) {
	f := newFixture(t, routetest.Config{CerebrasRPM: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openai.NewClient(option.WithBaseURL(f.srv.URL+"/v1/"), option.WithAPIKey("client-token"),
		option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{}))
	params := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")}}
	}
	served := func(model string, opts ...option.RequestOption) string {
		t.Helper()
		var resp *http.Response
		cc, err := c.Chat.Completions.New(ctx, params(model), append(opts, option.WithResponseInto(&resp))...)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "Hello") {
			t.Fatalf("%s: answer %+v", model, cc.Choices)
		}
		return resp.Header.Get(route.TargetHeader)
	}
	// The stream first: Gemini's first request.
	stream := c.Chat.Completions.NewStreaming(ctx, params("fast"))
	n := 0
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			n++
		}
	}
	if err := stream.Err(); err != nil || n < 2 {
		t.Fatalf("stream: %d chunks, %v", n, err)
	}
	stream.Close()
	if got := served("fast"); got != routetest.GeminiTarget.String() {
		t.Fatalf("second: %s", got)
	}
	if got := served("fast"); got != routetest.GroqTarget.String() {
		t.Fatalf("third, Gemini spent: %s", got)
	}
	if got := served("cerebras/" + routetest.CerebrasModel); got != routetest.CerebrasTarget.String() {
		t.Fatalf("pinned: %s", got)
	}
	if got := served("fast", option.WithJSONSet("models", []string{"cerebras/" + routetest.CerebrasModel, "fast"})); got != routetest.CerebrasTarget.String() {
		t.Fatalf("models list: %s", got)
	}
	if got := served("fast"); got != routetest.GroqTarget.String() {
		t.Fatalf("Groq's second: %s", got)
	}
	// Every tier spent now.
	for i := range 2 {
		_, err := c.Chat.Completions.New(ctx, params("fast"))
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Code != "rate_limit_exceeded" {
			t.Fatalf("all spent %d: %v, want the SDK's 429", i, err)
		}
		if s, err := strconv.Atoi(oe.Response.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("all spent %d: Retry-After %q", i, oe.Response.Header.Get("Retry-After"))
		}
	}
	models, err := c.Models.List(ctx)
	if err != nil || len(models.Data) != 4 || models.Data[0].ID != "fast" {
		t.Fatalf("models: %v %+v", err, models)
	}
}
