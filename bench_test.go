package jongler_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/api-jongler/jongler"
)

// BenchmarkTransport compares a bare http.Transport with jongler's
// Transport (8 keys) against a loopback server, one request at a time
// ("serial") and 64 at a time ("parallel64", where each key may carry 8
// requests so that 64 can be in flight). Run:
//
//	go test -run '^$' -bench BenchmarkTransport -benchmem -count 6 .
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}`))
	}))
	defer srv.Close()
	keys := map[string]string{}
	for i := range 8 {
		keys[fmt.Sprintf("key%d", i+1)] = fmt.Sprintf("bench-secret-%d", i+1)
	}
	newBase := func() *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 128
		return t
	}
	for _, mode := range []struct {
		name     string
		parallel int
		inFlight int
	}{{"serial", 1, 1}, {"parallel64", 64, 8}} {
		variants := []struct {
			name string
			rt   func(b *testing.B) http.RoundTripper
		}{
			{"bare", func(b *testing.B) http.RoundTripper { return newBase() }},
			{"jongler-file", func(b *testing.B) http.RoundTripper {
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keys), jongler.WithStateDir(b.TempDir()),
					jongler.WithBaseURL(srv.URL), jongler.WithBase(newBase()), jongler.WithMaxInFlight(mode.inFlight))
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}},
			{"jongler-memory", func(b *testing.B) http.RoundTripper {
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keys), jongler.WithStore(jongler.NewMemoryStore()),
					jongler.WithBaseURL(srv.URL), jongler.WithBase(newBase()), jongler.WithMaxInFlight(mode.inFlight))
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}},
		}
		for _, v := range variants {
			b.Run(mode.name+"/"+v.name, func(b *testing.B) {
				rt := v.rt(b)
				client := &http.Client{Transport: rt}
				defer client.CloseIdleConnections()
				url := srv.URL + genPath
				do := func() {
					req, _ := http.NewRequest(http.MethodPost, url, http.NoBody)
					req.Header.Set("x-goog-api-key", "placeholder")
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				b.ReportAllocs()
				if mode.parallel == 1 {
					for b.Loop() {
						do()
					}
					return
				}
				b.SetParallelism(max(1, mode.parallel/runtime.GOMAXPROCS(0))) // goroutines = parallelism × GOMAXPROCS
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do()
					}
				})
			})
		}
	}
}
