package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
)

// roundTrips counts the commands and pipelines a client sends: each is
// one network round trip.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkStores puts the memory, file and Redis stores side by side, with
// 1 and 64 goroutines and 8 and 1,000 keys:
//
//   - lease: one Store.Acquire and Lease.Release (8 slots per key with 64
//     goroutines, so that every goroutine can hold one); leases/s is the
//     total rate.
//   - request: one request through a Transport whose base answers at once
//     from memory, so ns/op is what the transport and its store add to a
//     request ("none" sends to the base directly).
//
// For Redis (a redis-server on loopback, started by the benchmark), rt/op
// counts the network round trips per operation. Run:
//
//	go test -run '^$' -bench BenchmarkStores -benchtime 2000x ./redisstore
func BenchmarkStores(b *testing.B) {
	srv := redistest.Start(b)
	hook := &roundTrips{}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 128})
	client.AddHook(hook)
	b.Cleanup(func() { client.Close() })
	stores := []struct {
		name string
		new  func(b *testing.B) jongler.Store
	}{
		{"memory", func(*testing.B) jongler.Store { return jongler.NewMemoryStore() }},
		{"file", func(b *testing.B) jongler.Store {
			fs, err := jongler.NewFileStore(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { fs.Close() })
			return fs
		}},
		{"redis", func(*testing.B) jongler.Store {
			return redisstore.New(client, redisstore.WithPrefix(freshPrefix()), redisstore.WithRestartQuiet(0))
		}},
	}
	// The floor: one round trip to the server (PING).
	b.Run("ping", func(b *testing.B) {
		before := hook.n.Load()
		run(b, 1, func() {
			if err := client.Ping(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
		})
		report(b, "redis", hook.n.Load()-before)
	})
	for _, nkeys := range []int{8, 1000} {
		keys := make([]string, nkeys)
		var jkeys []jongler.Key
		for i := range keys {
			keys[i] = fmt.Sprintf("key%d", i+1)
			jkeys = append(jkeys, jongler.Key{Name: keys[i], Value: fmt.Sprintf("bench-secret-%d", i+1)})
		}
		for _, par := range []int{1, 64} {
			slots := 1
			if par > 1 {
				slots = 8
			}
			for _, s := range stores {
				b.Run(fmt.Sprintf("lease/keys=%d/goroutines=%d/%s", nkeys, par, s.name), func(b *testing.B) {
					st := s.new(b)
					ctx := context.Background()
					before := hook.n.Load()
					run(b, par, func() {
						for {
							l, err := st.Acquire(ctx, jongler.ConnectorGemini, keys, slots)
							if err != nil {
								b.Fatal(err)
							}
							if l != nil {
								if err := l.Release(ctx); err != nil {
									b.Fatal(err)
								}
								return
							}
							runtime.Gosched()
						}
					})
					report(b, s.name, hook.n.Load()-before)
				})
			}
			for _, s := range append([]struct {
				name string
				new  func(b *testing.B) jongler.Store
			}{{"none", nil}}, stores...) {
				b.Run(fmt.Sprintf("request/keys=%d/goroutines=%d/%s", nkeys, par, s.name), func(b *testing.B) {
					var rt http.RoundTripper = instant
					if s.new != nil {
						tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(jkeys...),
							jongler.WithStore(s.new(b)), jongler.WithBaseURL("http://127.0.0.1:9"),
							jongler.WithBaseTransport(instant), jongler.WithMaxInFlight(slots))
						if err != nil {
							b.Fatal(err)
						}
						rt = tr
					}
					before := hook.n.Load()
					run(b, par, func() {
						req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent", http.NoBody)
						resp, err := rt.RoundTrip(req)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
					report(b, s.name, hook.n.Load()-before)
				})
			}
		}
	}
}

// instant answers every request at once from memory.
var instant = canned.Transport{}

// run runs do b.N times from par goroutines in all.
func run(b *testing.B, par int, do func()) {
	b.ReportAllocs()
	if par == 1 {
		for b.Loop() {
			do()
		}
		return
	}
	b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			do()
		}
	})
}

// report adds the rate, and for Redis the round trips, per operation.
func report(b *testing.B, store string, trips int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if store == "redis" {
		b.ReportMetric(float64(trips)/float64(b.N), "rt/op")
	}
}
