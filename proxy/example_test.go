package proxy_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/proxy"
)

// Mount the proxy in your own server: here in front of a simulated Gemini
// API, with one token; clients send the token as their API key.
func ExampleNew() {
	upstream := jonglertest.NewServer(jonglertest.Config{
		Keys: []jonglertest.Key{{Label: "key1", Value: "AIza-example-1"}, {Label: "key2", Value: "AIza-example-2"}},
	})
	defer upstream.Close()

	t, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: "AIza-example-1"}, jongler.Key{Name: "key2", Value: "AIza-example-2"}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(upstream.URL), // the real API without it
		jongler.WithNoKeyAnswer(),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	h, err := proxy.New([]*jongler.Transport{t}, proxy.WithTokens("my-proxy-token-5f0e2a9c"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fmt.Println(h.Prefixes())

	req, _ := http.NewRequest("POST", srv.URL+"/gemini/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"parts":[{"text":"Hello"}]}]}`))
	req.Header.Set("x-goog-api-key", "my-proxy-token-5f0e2a9c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, strings.Contains(string(body), `"candidates"`))

	req, _ = http.NewRequest("POST", srv.URL+"/v1beta/models/gemini-2.5-flash:generateContent", nil)
	req.Header.Set("x-goog-api-key", "a-wrong-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// [/ /gemini/ /generativelanguage.googleapis.com/]
	// 200 OK true
	// 401 Unauthorized
}
