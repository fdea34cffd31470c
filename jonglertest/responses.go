package jonglertest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Success bodies, in the shapes of Gemini's GenerateContentResponse and of
// the OpenAI-compatible chat completion.

type generateResponse struct {
	Candidates    []candidate   `json:"candidates"`
	UsageMetadata usageMetadata `json:"usageMetadata"`
	ModelVersion  string        `json:"modelVersion"`
	ResponseID    string        `json:"responseId"`
}

type candidate struct {
	Content      content `json:"content"`
	FinishReason string  `json:"finishReason,omitempty"`
	Index        int     `json:"index"`
}

type content struct {
	Parts []part `json:"parts"`
	Role  string `json:"role"`
}

type part struct {
	Text string `json:"text"`
}

type usageMetadata struct {
	PromptTokenCount     int             `json:"promptTokenCount"`
	CandidatesTokenCount int             `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int             `json:"totalTokenCount"`
	PromptTokensDetails  []modalityCount `json:"promptTokensDetails"`
}

type modalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

// geminiChunks returns the answer split into n GenerateContentResponse
// chunks; the last one carries finishReason STOP. With n = 1 it is the
// non-streamed answer.
func geminiChunks(model, id, prompt, text string, n int) []generateResponse {
	promptTokens := tokens(prompt)
	pieces := split(text, n)
	out := make([]generateResponse, len(pieces))
	done := 0
	for i, p := range pieces {
		done += tokens(p)
		c := candidate{Content: content{Parts: []part{{Text: p}}, Role: "model"}}
		if i == len(pieces)-1 {
			c.FinishReason = "STOP"
		}
		out[i] = generateResponse{
			Candidates: []candidate{c},
			UsageMetadata: usageMetadata{
				PromptTokenCount:     promptTokens,
				CandidatesTokenCount: done,
				TotalTokenCount:      promptTokens + done,
				PromptTokensDetails:  []modalityCount{{Modality: "TEXT", TokenCount: promptTokens}},
			},
			ModelVersion: model,
			ResponseID:   id,
		}
	}
	return out
}

type chatCompletion struct {
	Choices []chatChoice `json:"choices"`
	Created int64        `json:"created"`
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Object  string       `json:"object"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

type chatChoice struct {
	Delta        *chatMessage `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message,omitempty"`
}

type chatMessage struct {
	Content string `json:"content"`
	Role    string `json:"role"`
}

type chatUsage struct {
	CompletionTokens int `json:"completion_tokens"`
	PromptTokens     int `json:"prompt_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatChunks returns the answer as one chat.completion (n = 0) or as n
// chat.completion.chunk objects, the last with finish_reason "stop" and usage.
func chatChunks(model, id string, created int64, prompt, text string, n int) []chatCompletion {
	stop := "stop"
	usage := &chatUsage{PromptTokens: tokens(prompt), CompletionTokens: tokens(text)}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if n == 0 {
		return []chatCompletion{{
			Choices: []chatChoice{{FinishReason: &stop, Message: &chatMessage{Content: text, Role: "assistant"}}},
			Created: created, ID: id, Model: model, Object: "chat.completion", Usage: usage,
		}}
	}
	pieces := split(text, n)
	out := make([]chatCompletion, len(pieces))
	for i, p := range pieces {
		c := chatCompletion{
			Choices: []chatChoice{{Delta: &chatMessage{Content: p, Role: "assistant"}}},
			Created: created, ID: id, Model: model, Object: "chat.completion.chunk",
		}
		if i == len(pieces)-1 {
			c.Choices[0].FinishReason = &stop
			c.Usage = usage
		}
		out[i] = c
	}
	return out
}

// defaultReply is the answer text when Config.Reply is nil.
func defaultReply(model, prompt string) string {
	if utf8.RuneCountInString(prompt) > 200 {
		prompt = string([]rune(prompt)[:200]) + "…"
	}
	return fmt.Sprintf("This is a simulated answer from %s, brought to you by jonglertest. You asked: %q", model, prompt)
}

// split cuts s into n pieces of nearly equal rune counts (n ≥ 1).
func split(s string, n int) []string {
	if n < 1 {
		n = 1
	}
	r := []rune(s)
	out := make([]string, n)
	for i := range n {
		out[i] = string(r[i*len(r)/n : (i+1)*len(r)/n])
	}
	return out
}

// tokens estimates a token count the way Google documents it for Gemini:
// about four characters per token.
func tokens(s string) int {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	if n == 0 {
		return 0
	}
	return (n + 3) / 4
}
