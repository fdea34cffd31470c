package jongler_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/api-jongler/jongler"
)

// exampleKeys are the keys of the examples. Real programs read theirs from
// the INI file named by $APIJONGLER_CONFIG (leave WithKeys out).
var exampleKeys = []jongler.Key{{Name: "key1", Value: "sk-example-1"}, {Name: "key2", Value: "sk-example-2"}}

// exampleGeminiAPI stands in for the Gemini API in the examples: it answers
// with the name of the key it got, and refuses the keys in refuse with 429.
func exampleGeminiAPI(refuse ...string) *httptest.Server {
	names := map[string]string{}
	for _, k := range exampleKeys {
		names[k.Value] = k.Name
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := names[r.Header.Get("x-goog-api-key")]
		for _, n := range refuse {
			if n == name {
				// Gemini's answer when a project's per-minute quota is spent.
				http.Error(w, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[`+
					`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},`+
					`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"60s"}]}}`, http.StatusTooManyRequests)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"candidates":[{"content":{"parts":[{"text":"Hello! (sent with %s)"}]}}]}`, name)
	}))
}

// exampleStateDir stands in for the default state directory, shared by every
// process of the user.
func exampleStateDir() string {
	dir, err := os.MkdirTemp("", "jongler-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// A Transport goes wherever an http.RoundTripper does. Each request gets a
// key, the least recently used one that is free, in the header the client
// left empty or filled with a placeholder.
func ExampleNewTransport() {
	api := exampleGeminiAPI()
	defer api.Close()
	stateDir := exampleStateDir()
	defer os.RemoveAll(stateDir)

	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(exampleKeys...),
		jongler.WithStateDir(stateDir),
		jongler.WithBaseURL(api.URL), // leave out to reach the real API
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for range 2 {
		resp, err := client.Post(api.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "application/json",
			strings.NewReader(`{"contents":[{"parts":[{"text":"Hello?"}]}]}`))
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close() // ends the key's lease
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Status, string(body))
	}
	// Output:
	// 200 OK {"candidates":[{"content":{"parts":[{"text":"Hello! (sent with key1)"}]}}]}
	// 200 OK {"candidates":[{"content":{"parts":[{"text":"Hello! (sent with key2)"}]}}]}
}

// KeyStates shows what every process sharing the state directory sees: a
// key is LOCKED while an answer sent with it is being read, and a key
// refused with 429 cools down while the request goes on with another.
func ExampleTransport_KeyStates() {
	api := exampleGeminiAPI("key1")
	defer api.Close()
	stateDir := exampleStateDir()
	defer os.RemoveAll(stateDir)

	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(exampleKeys...),
		jongler.WithStateDir(stateDir),
		jongler.WithBaseURL(api.URL),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL+"/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"parts":[{"text":"Hello?"}]}]}`))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		log.Fatal(err)
	}

	ks, err := tr.KeyStates(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("while the answer is read: locked", ks.Locked, "lockdown", ks.Lockdown)

	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if ks, err = tr.KeyStates(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("once it is closed: vacant", ks.Vacant, "lockdown", ks.Lockdown)
	d := ks.Keys["key1"]
	fmt.Printf("key1: %s for about %v: %s\n", d.State, time.Until(d.Until).Round(time.Minute), d.Reason)
	// Output:
	// while the answer is read: locked [key2] lockdown [key1]
	// once it is closed: vacant [key2] lockdown [key1]
	// key1: LOCKDOWN for about 1m0s: per-minute quota GenerateRequestsPerMinutePerProjectPerModel-FreeTier
}
