package jongler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A stream abandoned before its end holds its key for the rest of a dead
// holder's key, in every process sharing the state directory (here, a
// second FileStore on it, which holds its own descriptors as another
// process would). The rest is made an hour so that "not before the rest"
// does not depend on the machine's speed.
func TestAbandonedStreamRestsAcrossStores(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	tr, err := NewTransport("generativelanguage.googleapis.com", WithKeys(Key{Name: "only", Value: "v-only-91ab"}),
		WithStateDir(dir), WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	tr.abandonRest = time.Hour
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 4))
	resp.Body.Close() // abandoned: the upstream may still be streaming

	other, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := other.Acquire(context.Background(), tr.connector.Name, []string{"only"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l != nil {
		l.Release(context.Background())
		t.Fatal("another process leased the key at once after a stream was abandoned mid-way; want it to rest first")
	}
}
