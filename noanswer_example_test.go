package jongler_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/api-jongler/jongler"
)

// With WithNoKeyAnswer, a request no key can serve gets the 429 an SDK
// understands, in the upstream's shape, with a Retry-After.
func ExampleWithNoKeyAnswer() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests) // the Gemini API's per-minute refusal, without a Retry-After
		fmt.Fprint(w, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[`+
			`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}`)
	}))
	defer upstream.Close()
	t, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: "AIza-example"}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(upstream.URL),
		jongler.WithNoKeyAnswer(),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	client := &http.Client{Transport: t}
	for range 2 { // the request that exhausts the key, then one that finds none
		resp, err := client.Post(upstream.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "application/json", strings.NewReader(`{}`))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After") != "")
	}
	// Output:
	// 429 true
	// 429 true
}
