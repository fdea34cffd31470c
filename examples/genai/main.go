// Command genai uses Google's Gen AI SDK (google.golang.org/genai) with API
// Jongler's transport as its HTTP client: one call, then one streamed call.
//
// The SDK wants an API key; it gets a placeholder, which the transport
// replaces in each request with a key leased from the INI file named by
// $APIJONGLER_CONFIG. A 429 on one key is retried with the next free key
// before the SDK sees it, and a stream keeps its key leased until it ends.
//
// Usage:
//
//	export APIJONGLER_CONFIG=$HOME/.config/apijongler/keys.ini
//	go run ./examples/genai "Write a haiku about key rotation."
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"

	"google.golang.org/genai"

	"github.com/api-jongler/jongler"
)

func main() {
	model := flag.String("model", "gemini-2.5-flash", "the model to ask")
	base := flag.String("base", "", "send to this base URL instead of the Gemini API's (a local fake, a regional endpoint)")
	flag.Parse()
	prompt := strings.Join(flag.Args(), " ")
	if prompt == "" {
		prompt = "Write a haiku about key rotation."
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	opts := []jongler.Option{jongler.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))}
	if *base != "" {
		opts = append(opts, jongler.WithBaseURL(*base))
	}
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com", opts...)
	if err != nil {
		log.Fatal(err)
	}

	cfg := &genai.ClientConfig{
		APIKey:     "placeholder", // replaced by the transport; never sent
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: &http.Client{Transport: tr},
	}
	if *base != "" {
		// The SDK builds its URLs from BaseURL; the transport sends keys
		// only to the address it was given, so both must agree.
		cfg.HTTPOptions.BaseURL = *base
	}
	client, err := genai.NewClient(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}

	// One call.
	resp, err := client.Models.GenerateContent(ctx, *model, genai.Text(prompt), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text())

	// One streamed call: chunks are printed as they arrive.
	fmt.Println("---")
	for chunk, err := range client.Models.GenerateContentStream(ctx, *model, genai.Text(prompt), nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(chunk.Text())
	}
	fmt.Println()
}
