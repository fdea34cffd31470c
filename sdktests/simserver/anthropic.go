package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// simKey is one Anthropic key the simulation knows.
type simKey struct {
	label, value string
}

func anthropicKeys(n int) []simKey {
	keys := make([]simKey, n)
	for i := range keys {
		keys[i] = simKey{label: "key" + strconv.Itoa(i+1), value: "sk-ant-sim-" + randomHex(16)}
	}
	return keys
}

// anthropic is a simulated Anthropic Messages API (POST /v1/messages): an
// answer or a stream of server-sent events as Anthropic sends them, 401
// authentication_error for an unknown key (in x-api-key or
// Authorization: Bearer), and 429 rate_limit_error with
// retry-after and the anthropic-ratelimit-requests-* headers when a key
// has used its requests of the window. Windows are fixed, of window
// simulated time, on the Gemini simulation's clock.
type anthropic struct {
	keys   []simKey
	limit  int
	window time.Duration
	clock  *jonglertest.Clock
	chunks int
	gap    time.Duration

	mu       sync.Mutex
	used     map[string]int // by key label, in the window windowAt
	windowAt map[string]time.Time
	inFlight map[string]int
	c        counts
}

func newAnthropic(keys []simKey, limit int, window time.Duration, clock *jonglertest.Clock, chunks int, gap time.Duration) *anthropic {
	return &anthropic{keys: keys, limit: limit, window: window, clock: clock, chunks: max(chunks, 1), gap: gap,
		used: map[string]int{}, windowAt: map[string]time.Time{}, inFlight: map[string]int{}}
}

func (a *anthropic) stats() counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c
}

// messagesRequest is the part of a Messages API request the simulation reads.
type messagesRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream bool `json:"stream"`
}

// text returns the text of the last message: a string or text blocks.
func (r *messagesRequest) text() string {
	if len(r.Messages) == 0 {
		return ""
	}
	raw := r.Messages[len(r.Messages)-1].Content
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
	}
	return b.String()
}

func (a *anthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The key comes in x-api-key, or as a Bearer token (as the SDKs of
	// late 2026 send it).
	sent := r.Header.Get("x-api-key")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && sent == "" {
		sent = bearer
	}
	label := ""
	for _, k := range a.keys {
		if sent != "" && sent == k.value {
			label = k.label
		}
	}
	var req messagesRequest
	decodeErr := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req)

	a.mu.Lock()
	a.c.Requests++
	if label == "" {
		a.c.Failed++
		a.mu.Unlock()
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if decodeErr != nil || req.Model == "" || req.MaxTokens <= 0 || len(req.Messages) == 0 {
		a.c.Failed++
		a.mu.Unlock()
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "model, max_tokens and messages are required")
		return
	}
	now := a.clock.Now()
	start := now.Truncate(a.window)
	if !a.windowAt[label].Equal(start) {
		a.windowAt[label], a.used[label] = start, 0
	}
	reset := start.Add(a.window)
	if a.used[label] >= a.limit {
		a.c.RateLimited++
		a.mu.Unlock()
		left := a.clock.ToWall(reset.Sub(now))
		h := w.Header()
		h.Set("retry-after", strconv.Itoa(int(math.Ceil(left.Seconds()))))
		a.limitHeaders(h, 0, time.Now().Add(left))
		anthropicError(w, http.StatusTooManyRequests, "rate_limit_error",
			fmt.Sprintf("This request would exceed the rate limit for your organization of %d requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.", a.limit))
		return
	}
	a.used[label]++
	remaining := a.limit - a.used[label]
	if a.inFlight[label] > 0 {
		a.c.Overlaps++
	}
	a.inFlight[label]++
	a.mu.Unlock()
	ok := a.answer(w, r, &req, remaining, time.Now().Add(a.clock.ToWall(reset.Sub(now))))
	a.mu.Lock()
	a.inFlight[label]--
	if ok {
		a.c.Successes++
	} else {
		a.c.Canceled++
	}
	a.mu.Unlock()
}

func (a *anthropic) limitHeaders(h http.Header, remaining int, reset time.Time) {
	h.Set("anthropic-ratelimit-requests-limit", strconv.Itoa(a.limit))
	h.Set("anthropic-ratelimit-requests-remaining", strconv.Itoa(remaining))
	h.Set("anthropic-ratelimit-requests-reset", reset.UTC().Format(time.RFC3339))
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_sim"+randomHex(8))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type": "error", "error": map[string]string{"type": typ, "message": msg},
	})
}

// answer writes the reply, whole or as a stream; it reports whether the
// client took all of it.
func (a *anthropic) answer(w http.ResponseWriter, r *http.Request, req *messagesRequest, remaining int, reset time.Time) bool {
	a.limitHeaders(w.Header(), remaining, reset)
	w.Header().Set("request-id", "req_sim"+randomHex(8))
	id := "msg_sim" + randomHex(8)
	words := strings.Fields(fmt.Sprintf("Simulated %s answer to: %s", req.Model, req.text()))
	usage := map[string]int{"input_tokens": len(strings.Fields(req.text())), "output_tokens": len(words)}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content":     []map[string]string{{"type": "text", "text": strings.Join(words, " ")}},
			"stop_reason": "end_turn", "stop_sequence": nil, "usage": usage,
		})
		return true
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	send := func(event string, data any) bool {
		b, _ := json.Marshal(data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return r.Context().Err() == nil
	}
	ok := send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": usage["input_tokens"], "output_tokens": 1}}}) &&
		send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
	per := (len(words) + a.chunks - 1) / a.chunks
	for i := 0; ok && i < a.chunks; i++ {
		if i > 0 && a.gap > 0 {
			select {
			case <-time.After(a.gap):
			case <-r.Context().Done():
				return false
			}
		}
		part := words[min(i*per, len(words)):min((i+1)*per, len(words))]
		text := strings.Join(part, " ")
		if i > 0 && text != "" {
			text = " " + text
		}
		ok = send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": text}})
	}
	return ok &&
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}) &&
		send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]int{"output_tokens": usage["output_tokens"]}}) &&
		send("message_stop", map[string]any{"type": "message_stop"})
}
