package route_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/route"
)

// A Go program routes over two free tiers with the OpenAI SDK: requests go
// to Groq while its headers say it has room, then to Cerebras, without a
// 429 on the way. The simulated providers stand in for the real ones (leave
// WithBaseURL out and give real keys for them).
func Example() {
	// A simulated minute from 09:00 that lasts an hour: no window ends
	// while the example runs.
	start, minute := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), time.Hour
	groqAPI := jonglertest.NewProvider(jonglertest.ProviderConfig{Path: "/openai/v1", Start: start, Minute: minute,
		Keys:   []jonglertest.Key{{Value: "gsk-example"}},
		Models: map[string]jonglertest.Limits{"llama-3.3-70b-versatile": {RPM: 2, TPM: jonglertest.Unlimited}}})
	defer groqAPI.Close()
	cerebrasAPI := jonglertest.NewProvider(jonglertest.ProviderConfig{Path: "/v1", Start: start, Minute: minute,
		Keys:   []jonglertest.Key{{Value: "csk-example"}},
		Models: map[string]jonglertest.Limits{"llama3.3-70b": {RPM: jonglertest.Unlimited, TPM: jonglertest.Unlimited}}})
	defer cerebrasAPI.Close()

	store := jongler.NewMemoryStore()
	groq, err := jongler.NewTransport("groq", jongler.WithStore(store), jongler.WithBaseURL(groqAPI.URL),
		jongler.WithKeys(jongler.Key{Name: "groq1", Value: "gsk-example"}), jongler.WithNoKeyAnswer())
	if err != nil {
		log.Fatal(err)
	}
	defer groq.Close()
	cerebras, err := jongler.NewTransport("cerebras", jongler.WithStore(store), jongler.WithBaseURL(cerebrasAPI.URL),
		jongler.WithKeys(jongler.Key{Name: "cerebras1", Value: "csk-example"}), jongler.WithNoKeyAnswer())
	if err != nil {
		log.Fatal(err)
	}
	defer cerebras.Close()

	h, err := route.New([]*jongler.Transport{groq, cerebras}, []route.Route{{
		Name: "fast",
		Targets: []route.Target{
			{Connector: "groq", Model: "llama-3.3-70b-versatile"},
			{Connector: "cerebras", Model: "llama3.3-70b"},
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"))
	for range 3 {
		var resp *http.Response
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:    "fast",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		}, option.WithResponseInto(&resp))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Header.Get(route.TargetHeader))
	}
	fmt.Println("429s from Groq:", groqAPI.Stats().RateLimited)
	// Output:
	// api.groq.com/llama-3.3-70b-versatile
	// api.groq.com/llama-3.3-70b-versatile
	// api.cerebras.ai/llama3.3-70b
	// 429s from Groq: 0
}
