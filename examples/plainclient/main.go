// Command plainclient sends one prompt to the Gemini API with a plain
// net/http client whose transport is API Jongler's. The program holds no
// key: the transport leases one per request from the keys in the INI file
// named by $APIJONGLER_CONFIG, puts it in the x-goog-api-key header, and
// on a 429 sends the request again with the next free key. Every process
// using the same state directory shares the keys' leases and cooldowns.
//
// Usage:
//
//	export APIJONGLER_CONFIG=$HOME/.config/apijongler/keys.ini
//	go run ./examples/plainclient "Why is the sky blue?"
//
// where keys.ini holds
//
//	[generativelanguage.googleapis.com]
//	key1 = your-api-key-1
//	key2 = your-api-key-2
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/api-jongler/jongler"
)

func main() {
	model := flag.String("model", "gemini-2.5-flash", "the model to ask")
	base := flag.String("base", "", "send to this base URL instead of the Gemini API's (a local fake, a regional endpoint)")
	verbose := flag.Bool("v", false, "log every lease, not only key state changes")
	flag.Parse()
	prompt := strings.Join(flag.Args(), " ")
	if prompt == "" {
		prompt = "Say hello in one sentence."
	}

	// Key state changes (lockdowns, refusals) are logged by key name; key
	// values never are.
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	opts := []jongler.Option{jongler.WithLogger(logger)}
	if *base != "" {
		opts = append(opts, jongler.WithBaseURL(*base))
	}
	// With no WithKeys option the keys come from $APIJONGLER_CONFIG, and
	// the state from $APIJONGLER_STATE_DIR or the default state directory.
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com", opts...)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	payload, err := json.Marshal(map[string]any{
		"contents": []any{map[string]any{"parts": []any{map[string]any{"text": prompt}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	url := strings.TrimSuffix(tr.BaseURL(), "/") + "/v1beta/models/" + *model + ":generateContent"
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// No x-goog-api-key header: the transport adds it. (A placeholder
	// there, or in ?key=, would be replaced in place.)

	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err) // for instance jongler.ErrNoKeys when every key cools down
	}
	defer resp.Body.Close() // closing the body ends the key's lease
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s: %s", resp.Status, body)
	}

	var answer struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		log.Fatalf("answer is not Gemini's JSON: %v", err)
	}
	for _, c := range answer.Candidates {
		for _, p := range c.Content.Parts {
			fmt.Print(p.Text)
		}
	}
	fmt.Println()
}
