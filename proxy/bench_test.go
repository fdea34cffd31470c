package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
	"github.com/api-jongler/jongler/internal/cputime"
	"github.com/api-jongler/jongler/proxy"
)

// BenchmarkHandler measures the CPU and the allocations the proxy spends
// on a request, with no network: Handler.ServeHTTP is called with an
// httptest.ResponseRecorder, over a base transport that answers from
// memory. Side by side, on the same base and request:
//
//   - reverseproxy: a bare httputil.ReverseProxy (Rewrite + SetURL), the
//     floor any proxy pays;
//   - reverseproxy-pool: the same with a pool of copy buffers, as the
//     Handler has: the floor the Handler's own work adds to;
//   - transport: the same ReverseProxy over the jongler.Transport that
//     serve builds (memory store, 8 keys, an SDK MeterProvider), without
//     the Handler's own work;
//   - handler: the Handler as serve builds it, that transport plus a
//     token and a text access log (to nowhere);
//   - handler-clients: the same with a named client under limits, and
//     the handler's request counter by client name.
//
// Besides ns/op, cpu-ns/op is the CPU time the process spent per request
// (user and system, the garbage collector's included), which a machine
// busy with other work disturbs much less. Run, with profiles:
//
//	go test -run '^$' -bench BenchmarkHandler -benchmem -count 6 ./proxy
//	go test -run '^$' -bench 'BenchmarkHandler/serial/handler' -cpuprofile /tmp/cpu.out ./proxy
func BenchmarkHandler(b *testing.B) {
	const answer = `{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}]}`
	base := canned.Transport{Body: answer}
	const upstream = "http://127.0.0.1:9" // never dialled
	newTransport := func(b *testing.B) *jongler.Transport {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		var keys []jongler.Key
		for i := range 8 {
			keys = append(keys, jongler.Key{Name: fmt.Sprintf("key%d", i+1), Value: fmt.Sprintf("bench-secret-%d", i+1)})
		}
		tr, err := jongler.NewTransport(gemini,
			jongler.WithKeys(keys...), jongler.WithStore(jongler.NewMemoryStore()),
			jongler.WithBaseURL(upstream), jongler.WithBaseTransport(base),
			jongler.WithNoKeyAnswer(), jongler.WithMaxInFlight(16),
			jongler.WithMeterProvider(mp),
			jongler.WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			tr.Close()
			mp.Shutdown(context.Background())
		})
		return tr
	}
	bare := func(rt http.RoundTripper) *httputil.ReverseProxy {
		u, _ := url.Parse(upstream)
		return &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
			Transport: rt,
		}
	}
	fronts := []struct {
		name string
		make func(b *testing.B) http.Handler
	}{
		{"reverseproxy", func(*testing.B) http.Handler { return bare(base) }},
		{"reverseproxy-pool", func(*testing.B) http.Handler {
			rp := bare(base)
			rp.BufferPool = &testBufferPool{}
			return rp
		}},
		{"transport", func(b *testing.B) http.Handler { return bare(newTransport(b)) }},
		{"handler", func(b *testing.B) http.Handler {
			h, err := proxy.New([]*jongler.Transport{newTransport(b)},
				proxy.WithTokens(token), proxy.WithAccessLog(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			return h
		}},
		{"handler-clients", func(b *testing.B) http.Handler {
			// The same, its token a named client's with limits, and the
			// handler's own request counter by client name.
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { mp.Shutdown(context.Background()) })
			h, err := proxy.New([]*jongler.Transport{newTransport(b)},
				proxy.WithClients(proxy.Client{Name: "bench", Token: token, PerMinute: 1 << 30, PerDay: 1 << 30}),
				proxy.WithMeterProvider(mp),
				proxy.WithAccessLog(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			return h
		}},
	}
	serve := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8787"+genPath, strings.NewReader(genBody))
		req.Header.Set("x-goog-api-key", token)
		req.Header.Set("Content-Type", "application/json")
		req.Body = io.NopCloser(strings.NewReader(genBody))
		w := deadlineRecorder{httptest.NewRecorder()}
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Body.String() != answer {
			b.Fatalf("status %d, body %q", w.Code, w.Body)
		}
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, f := range fronts {
			b.Run(mode+"/"+f.name, func(b *testing.B) {
				h := f.make(b)
				b.ReportAllocs()
				cpu0, ok := cputime.Process()
				if mode == "serial" {
					for b.Loop() {
						serve(b, h)
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							serve(b, h)
						}
					})
				}
				if cpu1, _ := cputime.Process(); ok {
					// On a machine shared with other work, the CPU time a
					// request takes (GC included) says more than ns/op.
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// deadlineRecorder is a ResponseRecorder that takes read and write
// deadlines, as a server's writer does (http.ResponseController finds
// them), so that the Handler's body watch costs what it does there, not
// an ErrNotSupported per read.
type deadlineRecorder struct{ *httptest.ResponseRecorder }

func (deadlineRecorder) SetReadDeadline(time.Time) error  { return nil }
func (deadlineRecorder) SetWriteDeadline(time.Time) error { return nil }

// testBufferPool lends 32 KiB buffers, as the Handler's pool does.
type testBufferPool struct{ p sync.Pool }

func (b *testBufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[32 << 10]byte); ok {
		return buf[:]
	}
	return new([32 << 10]byte)[:]
}

func (b *testBufferPool) Put(buf []byte) { b.p.Put((*[32 << 10]byte)(buf)) }
