package jonglertest_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// generateResponse is the part of Gemini's GenerateContentResponse the
// tests look at.
type generateResponse struct {
	Candidates []struct {
		Content struct {
			Parts []struct {
				Text string `json:"text"`
			} `json:"parts"`
			Role string `json:"role"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
}

func (g generateResponse) text() string {
	var b strings.Builder
	for _, c := range g.Candidates {
		for _, p := range c.Content.Parts {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func reply(model, prompt string) string {
	return "Answer of " + model + " to " + prompt + ": forty-two, as everybody knows."
}

func TestSSEChunksArriveSeparately(t *testing.T) {
	const chunks, gap = 4, 50 * time.Millisecond
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:         keys("p", "k"),
		StreamChunks: chunks,
		StreamGap:    gap,
		Reply:        reply,
	})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/"+flash+":streamGenerateContent?alt=sse", strings.NewReader(okRequest))
	req.Header.Set("x-goog-api-key", "value-k")
	t0 := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var got []generateResponse
	var arrivals []time.Time
	sc := bufio.NewScanner(resp.Body)
	blank := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			blank++
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is no SSE data", line)
		}
		arrivals = append(arrivals, time.Now())
		var g generateResponse
		if err := json.Unmarshal([]byte(data), &g); err != nil {
			t.Fatal(err)
		}
		got = append(got, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != chunks || blank != chunks {
		t.Fatalf("%d chunks and %d blank lines, want %d of each", len(got), blank, chunks)
	}
	// Chunk i cannot come before i gaps; the first one came well before the
	// last (all would arrive together if they were not flushed one by one).
	for i, at := range arrivals {
		if d := at.Sub(t0); d < time.Duration(i)*gap {
			t.Errorf("chunk %d arrived after %v, before %d gaps of %v", i, d, i, gap)
		}
	}
	if d := arrivals[chunks-1].Sub(arrivals[0]); d < gap {
		t.Errorf("first and last chunks arrived %v apart, want at least %v", d, gap)
	}
	var text strings.Builder
	for i, g := range got {
		text.WriteString(g.text())
		c := g.Candidates[0]
		if c.Content.Role != "model" || g.ModelVersion != flash || g.ResponseID != got[0].ResponseID {
			t.Errorf("chunk %d: %+v", i, g)
		}
		if last := i == chunks-1; (c.FinishReason == "STOP") != last {
			t.Errorf("chunk %d: finishReason %q", i, c.FinishReason)
		}
		if u := g.UsageMetadata; u.PromptTokenCount == 0 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
			t.Errorf("chunk %d: usage %+v", i, u)
		}
	}
	if want := reply(flash, "Hello"); text.String() != want {
		t.Errorf("text %q, want %q", text.String(), want)
	}
}

func TestEndpoints(t *testing.T) {
	want := reply(flash, "Hello")
	tests := []struct {
		name, path, body string
		headers          []string
		check            func(t *testing.T, body []byte)
	}{
		{
			name: "v1beta generateContent", path: "/v1beta/models/" + flash + ":generateContent", body: okRequest,
			check: func(t *testing.T, body []byte) {
				var g generateResponse
				if err := json.Unmarshal(body, &g); err != nil || g.text() != want || g.Candidates[0].FinishReason != "STOP" {
					t.Errorf("%s (%v)", body, err)
				}
			},
		},
		{
			name: "v1 generateContent, key in query", path: "/v1/models/" + flash + ":generateContent?key=value-k", body: okRequest,
			check: func(t *testing.T, body []byte) {
				var g generateResponse
				if err := json.Unmarshal(body, &g); err != nil || g.text() != want {
					t.Errorf("%s (%v)", body, err)
				}
			},
		},
		{
			name: "stream as JSON array", path: "/v1beta/models/" + flash + ":streamGenerateContent", body: okRequest,
			check: func(t *testing.T, body []byte) {
				var gs []generateResponse
				if err := json.Unmarshal(body, &gs); err != nil || len(gs) != 3 {
					t.Fatalf("%s (%v)", body, err)
				}
				if text := gs[0].text() + gs[1].text() + gs[2].text(); text != want {
					t.Errorf("text %q", text)
				}
			},
		},
		{
			name: "OpenAI-compatible", path: "/v1beta/openai/chat/completions",
			body:    `{"model":"models/gemini-2.5-flash","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":[{"type":"text","text":"Hello"}]}]}`,
			headers: []string{"Authorization", "Bearer value-k"},
			check: func(t *testing.T, body []byte) {
				var c struct {
					Object  string `json:"object"`
					Model   string `json:"model"`
					Choices []struct {
						Message      struct{ Role, Content string } `json:"message"`
						FinishReason string                         `json:"finish_reason"`
					} `json:"choices"`
					Usage struct {
						TotalTokens int `json:"total_tokens"`
					} `json:"usage"`
				}
				if err := json.Unmarshal(body, &c); err != nil || c.Object != "chat.completion" || c.Model != flash ||
					c.Choices[0].Message.Content != want || c.Choices[0].Message.Role != "assistant" ||
					c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens == 0 {
					t.Errorf("%s (%v)", body, err)
				}
			},
		},
		{
			name: "OpenAI-compatible stream", path: "/v1beta/openai/chat/completions",
			body:    `{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"Hello"}]}`,
			headers: []string{"Authorization", "Bearer value-k"},
			check: func(t *testing.T, body []byte) {
				events := strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n")
				if len(events) != 4 || events[3] != "data: [DONE]" {
					t.Fatalf("events %q", events)
				}
				var text strings.Builder
				for _, e := range events[:3] {
					var c struct {
						Object  string `json:"object"`
						Choices []struct {
							Delta struct{ Content string } `json:"delta"`
						} `json:"choices"`
					}
					if err := json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &c); err != nil || c.Object != "chat.completion.chunk" {
						t.Fatalf("event %q (%v)", e, err)
					}
					text.WriteString(c.Choices[0].Delta.Content)
				}
				if text.String() != want {
					t.Errorf("text %q", text.String())
				}
			},
		},
	}
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited(), Reply: reply})
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := tt.headers
			if headers == nil && !strings.Contains(tt.path, "key=") {
				headers = []string{"x-goog-api-key", "value-k"}
			}
			r := post(t, srv, tt.path, tt.body, headers...)
			if r.err != nil || r.status != 200 {
				t.Fatalf("%d %s (%v)", r.status, r.body, r.err)
			}
			tt.check(t, r.body)
		})
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, path, body string
		status           int
		message          string
		array            bool
	}{
		{"unknown field", ":generateContent", `{"contnts":[]}`, 400, `Unknown name "contnts"`, false},
		{"bad JSON", ":generateContent", `{"contents":`, 400, "Invalid JSON payload", false},
		{"no contents", ":generateContent", `{}`, 400, "contents is not specified", false},
		{"empty body", ":generateContent", ``, 400, "contents is not specified", false},
		{"unknown method", ":countTokens", okRequest, 404, "Method not found", false},
		{"unknown model", "x:generateContent", okRequest, 404, "models/gemini-2.5-flashx is not found for API version v1beta", false},
		{"error of a JSON-array stream", ":streamGenerateContent", `{}`, 400, "contents is not specified", true},
	}
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "k"), Models: unlimited()})
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, "/v1beta/models/"+flash+tt.path, tt.body, "x-goog-api-key", "value-k")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			body := r.body
			if tt.array {
				var arr []json.RawMessage
				if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 1 {
					t.Fatalf("%s is no array of one error", body)
				}
				body = arr[0]
			}
			if e := decodeError(t, body); !strings.Contains(e.Error.Message, tt.message) || e.Error.Code != tt.status {
				t.Errorf("error %+v, want message with %q", e.Error, tt.message)
			}
		})
	}
	if st := srv.Stats(); st.Failed != len(tests) || st.Keys["k"].Failed != len(tests) {
		t.Errorf("counts %+v, key %+v", st.Counts, st.Keys["k"].Counts)
	}
}
