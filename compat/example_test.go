package compat_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
)

// exampleGeminiAPI stands in for the Gemini API: it answers with the name
// of the key it got.
func exampleGeminiAPI() *httptest.Server {
	names := map[string]string{}
	for _, k := range exampleKeys {
		names[k.Value] = k.Name
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"candidates":[{"content":{"parts":[{"text":"Hello! (sent with %s)"}]}}]}`, names[r.Header.Get("x-goog-api-key")])
	}))
}

// exampleKeys are the keys of the example. Real programs read theirs from
// the INI file named by $APIJONGLER_CONFIG (leave WithKeys out).
var exampleKeys = []jongler.Key{{Name: "key1", Value: "sk-example-1"}, {Name: "key2", Value: "sk-example-2"}}

// New is the original API Jongler's interface: requests by endpoint, and
// the keys' states by name.
func ExampleNew() {
	api := exampleGeminiAPI()
	defer api.Close()
	stateDir, err := os.MkdirTemp("", "jongler-example-") // the default is shared by every process of the user
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(stateDir)

	j, err := compat.New(jongler.ConnectorGemini,
		jongler.WithKeys(exampleKeys...),
		jongler.WithStateDir(stateDir),
		jongler.WithBaseURL(api.URL),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	ctx := context.Background()
	body, status, err := j.Request(ctx, http.MethodPost, "/v1beta/models/gemini-2.5-flash:generateContent",
		`{"contents":[{"parts":[{"text":"Hello?"}]}]}`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(status, body)

	out, err := j.RequestJSON(ctx, "/v1beta/models/gemini-2.5-flash:generateContent",
		map[string]any{"contents": []any{map[string]any{"parts": []any{map[string]any{"text": "Hello?"}}}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out["candidates"])

	vacant, err := j.VacantKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("keys:", j.AvailableKeys(), "vacant:", vacant)
	// Output:
	// 200 {"candidates":[{"content":{"parts":[{"text":"Hello! (sent with key1)"}]}}]}
	// [map[content:map[parts:[map[text:Hello! (sent with key2)]]]]]
	// keys: [key1 key2] vacant: [key1 key2]
}
