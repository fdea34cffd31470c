package jongler_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
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
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(keys)...), jongler.WithStateDir(b.TempDir()),
					jongler.WithBaseURL(srv.URL), jongler.WithBaseTransport(newBase()), jongler.WithMaxInFlight(mode.inFlight))
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}},
			{"jongler-memory", func(b *testing.B) http.RoundTripper {
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(keys)...), jongler.WithStore(jongler.NewMemoryStore()),
					jongler.WithBaseURL(srv.URL), jongler.WithBaseTransport(newBase()), jongler.WithMaxInFlight(mode.inFlight))
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
				loop(b, mode.parallel, do)
			})
		}
	}
}

// BenchmarkTransportOverhead isolates what jongler's Transport adds to a
// request: its base RoundTripper answers at once from memory, with no
// network, so ns/op and allocs/op are the transport's own work (cloning
// the request, leasing and releasing a key, placing it, reading the
// answer's status) plus a fixed small cost of the canned answer, shown by
// "none" (the same request sent to the base directly). Run:
//
//	go test -run '^$' -bench BenchmarkTransportOverhead -benchmem -count 6 .
func BenchmarkTransportOverhead(b *testing.B) {
	base := canned.Transport{}
	const url = "http://127.0.0.1:9" + genPath // never dialled
	keys := map[string]string{}
	for i := range 8 {
		keys[fmt.Sprintf("key%d", i+1)] = fmt.Sprintf("bench-secret-%d", i+1)
	}
	for _, mode := range []struct {
		name     string
		parallel int
		inFlight int
	}{{"serial", 1, 1}, {"parallel64", 64, 8}} {
		for _, v := range []struct {
			name string
			rt   func(b *testing.B) http.RoundTripper
		}{
			{"none", func(*testing.B) http.RoundTripper { return base }},
			{"jongler-file", func(b *testing.B) http.RoundTripper {
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(keys)...), jongler.WithStateDir(b.TempDir()),
					jongler.WithBaseURL("http://127.0.0.1:9"), jongler.WithBaseTransport(base), jongler.WithMaxInFlight(mode.inFlight))
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}},
			{"jongler-memory", func(b *testing.B) http.RoundTripper {
				tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(keys)...), jongler.WithStore(jongler.NewMemoryStore()),
					jongler.WithBaseURL("http://127.0.0.1:9"), jongler.WithBaseTransport(base), jongler.WithMaxInFlight(mode.inFlight))
				if err != nil {
					b.Fatal(err)
				}
				return tr
			}},
		} {
			b.Run(mode.name+"/"+v.name, func(b *testing.B) {
				rt := v.rt(b)
				do := func() {
					req, _ := http.NewRequest(http.MethodPost, url, http.NoBody)
					req.Header.Set("x-goog-api-key", "placeholder")
					resp, err := rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				loop(b, mode.parallel, do)
			})
		}
	}
}

// roundTripFunc adapts a function to an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// loop runs do b.N times, from parallel goroutines when parallel > 1
// (parallelism × GOMAXPROCS goroutines), and reports allocations.
func loop(b *testing.B, parallel int, do func()) {
	b.ReportAllocs()
	if parallel == 1 {
		for b.Loop() {
			do()
		}
		return
	}
	b.SetParallelism(max(1, parallel/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			do()
		}
	})
}

// BenchmarkTransportKeys shows whether the transport's own cost grows with
// the number of keys: no network (as BenchmarkTransportOverhead), one
// request at a time, 8 and 1,000 keys, with and without a budget for the
// model asked for (too large to bind). Run:
//
//	go test -run '^$' -bench BenchmarkTransportKeys -benchmem -count 6 .
func BenchmarkTransportKeys(b *testing.B) {
	base := canned.Transport{}
	const url = "http://127.0.0.1:9" + genPath // never dialled
	for _, n := range []int{8, 1000} {
		keys := make([]jongler.Key, n)
		for i := range keys {
			keys[i] = jongler.Key{Name: fmt.Sprintf("key%04d", i+1), Value: fmt.Sprintf("bench-secret-%d", i+1)}
		}
		for _, budgets := range []bool{false, true} {
			for _, store := range []string{"memory", "file"} {
				name := fmt.Sprintf("keys=%d/%s/plain", n, store)
				if budgets {
					name = fmt.Sprintf("keys=%d/%s/budgets", n, store)
				}
				b.Run(name, func(b *testing.B) {
					opts := []jongler.Option{jongler.WithKeys(keys...), jongler.WithBaseURL("http://127.0.0.1:9"), jongler.WithBaseTransport(base)}
					if store == "memory" {
						opts = append(opts, jongler.WithStore(jongler.NewMemoryStore()))
					} else {
						opts = append(opts, jongler.WithStateDir(b.TempDir()))
					}
					if budgets {
						opts = append(opts, jongler.WithBudgets(jongler.Budget{Model: "gemini-2.5-flash", PerMinute: 1 << 30, PerDay: 1 << 30}))
					}
					tr, err := jongler.NewTransport(gem, opts...)
					if err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					loop(b, 1, func() {
						req, _ := http.NewRequest(http.MethodPost, url, http.NoBody)
						req.Header.Set("x-goog-api-key", "placeholder")
						resp, err := tr.RoundTrip(req)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
				})
			}
		}
	}
}
