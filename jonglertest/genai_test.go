package jonglertest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/api-jongler/jongler/jonglertest"
)

// The official Go SDK talks to the server as it would to Google.

func newGenaiClient(t *testing.T, srv *jonglertest.Server, key string) *genai.Client {
	t.Helper()
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestGenaiSDK(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: []jonglertest.Key{
			{Label: "ok", Value: "value-ok", Project: "p"},
			{Label: "leaked", Value: "value-leaked", Project: "p", Leaked: true},
		},
		Models:       map[string]jonglertest.Quota{flash: {RPM: 2, RPD: 100}},
		Start:        noon,
		Reply:        reply,
		StreamChunks: 4,
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := newGenaiClient(t, srv, "value-ok")
	want := reply(flash, "Hello")

	t.Run("GenerateContent", func(t *testing.T) {
		resp, err := client.Models.GenerateContent(ctx, flash, genai.Text("Hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text() != want || resp.ModelVersion != flash {
			t.Errorf("text %q, model version %q", resp.Text(), resp.ModelVersion)
		}
		if c := resp.Candidates[0]; c.FinishReason != genai.FinishReasonStop || c.Content.Role != genai.RoleModel {
			t.Errorf("candidate %+v", c)
		}
		if u := resp.UsageMetadata; u == nil || u.TotalTokenCount == 0 {
			t.Errorf("usage %+v", u)
		}
	})

	t.Run("GenerateContentStream", func(t *testing.T) {
		var text strings.Builder
		var chunks []*genai.GenerateContentResponse
		for resp, err := range client.Models.GenerateContentStream(ctx, flash, genai.Text("Hello"), nil) {
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, resp)
			text.WriteString(resp.Text())
		}
		if len(chunks) != 4 {
			t.Fatalf("%d chunks, want 4", len(chunks))
		}
		if text.String() != want {
			t.Errorf("text %q, want %q", text.String(), want)
		}
		if fr := chunks[3].Candidates[0].FinishReason; fr != genai.FinishReasonStop {
			t.Errorf("last finish reason %q", fr)
		}
	})

	t.Run("quota exhausted", func(t *testing.T) {
		_, err := client.Models.GenerateContent(ctx, flash, genai.Text("Hello"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" {
			t.Fatalf("error %v, want a 429 APIError", err)
		}
		var delay string
		for _, d := range apiErr.Details {
			if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
				delay, _ = d["retryDelay"].(string)
			}
		}
		if d, err := time.ParseDuration(delay); err != nil || d <= 0 || d > time.Minute {
			t.Errorf("retryDelay %q in %v", delay, apiErr.Details)
		}
		for _, err := range client.Models.GenerateContentStream(ctx, flash, genai.Text("Hello"), nil) {
			if !errors.As(err, &apiErr) || apiErr.Code != 429 {
				t.Errorf("stream error %v, want a 429 APIError", err)
			}
			break
		}
	})

	t.Run("leaked key", func(t *testing.T) {
		_, err := newGenaiClient(t, srv, "value-leaked").Models.GenerateContent(ctx, flash, genai.Text("Hello"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 403 || !strings.Contains(apiErr.Message, "leaked") {
			t.Errorf("error %v, want a 403 APIError", err)
		}
	})

	st := srv.Stats()
	if k := st.Keys["ok"]; k.Successes != 2 || k.RateLimited != 2 || k.Overlaps != 0 {
		t.Errorf("key ok: %+v", k)
	}
}
