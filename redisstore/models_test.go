package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
)

// TestInventedModelNamesBoundedOnRedis: a client that names a new model on
// every request under a "*" budget leaves a bounded number of Redis keys
// (each counter is one, living a day): at most 256 names a day are
// counted apart, the others share one count.
func TestInventedModelNamesBoundedOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis-server")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"candidates":[]}`))
	}))
	defer up.Close()
	srv := redistest.Start(t)
	client := srv.Client(t)
	prefix := freshPrefix()
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithMaxWait(-1),
		jongler.WithKeys(jongler.Key{Name: "key1", Value: "value-one-0123456789", Project: "p"},
			jongler.Key{Name: "key2", Value: "value-two-0123456789", Project: "p"}),
		jongler.WithBudgets(jongler.Budget{Model: "*", PerMinute: 100000, PerDay: 100000}),
		jongler.WithStore(redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))),
		jongler.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const names = 1200
	for i := range names {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
			fmt.Sprintf("%s/v1beta/models/made-up-%d:generateContent", up.URL, i), strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body) // read to the end: the lease ends at once
		resp.Body.Close()
	}
	keys, err := client.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 2*257+16 { // two counters a name, the shared one's, and the state's own keys
		t.Fatalf("%d Redis keys under the prefix after %d model names; want at most %d", len(keys), names, 2*257+16)
	}
}
