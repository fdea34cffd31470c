// Command proxybench measures what the proxy of `apijongler serve` (package
// proxy over a jongler.Transport) costs, side by side in one run:
//
//   - throughput and latency at -conns concurrent keep-alive connections
//     (default 64), then at 1 (where latency is the request's own, not a
//     queue's), each sending requests back to back for -duration,
//     against a zero-latency upstream: directly (the baseline), through a
//     bare httputil.ReverseProxy, and through the proxy with a memory store
//     and with a file store; the "added" latency of a front is its
//     percentile minus the direct one; -rounds rounds interleave the
//     fronts and the best round of each (by p50) is reported, every round
//     listed after; with each, the process's CPU time per request, whose
//     difference from the direct one is what a front costs a request in
//     CPU, which other work on the machine disturbs less than throughput;
//   - -streams idle server-sent-event streams (default 1,000) held open at
//     once, directly and through the proxy: heap, goroutines and file
//     descriptors per stream, the direct run's subtracted (measured first,
//     while no connection is idle to be reused).
//
// Everything runs in this one process (clients, proxies, upstream), on
// loopback, as `serve` builds its handler (package cmd/internal/serving:
// metrics, access log, options); the proxy has -keys keys, each
// usable by -conns/-keys requests at once, so no request waits for a key.
//
//	go run ./cmd/proxybench [-conns 64] [-duration 5s] [-streams 1000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/cmd/internal/serving"
	"github.com/api-jongler/jongler/internal/cputime"
	"github.com/api-jongler/jongler/proxy"
)

const path = "/v1beta/models/gemini-2.5-flash:generateContent"

var (
	conns    = flag.Int("conns", 64, "concurrent connections")
	duration = flag.Duration("duration", 5*time.Second, "how long each front is loaded")
	warmup   = flag.Duration("warmup", time.Second, "load before measuring, for each front")
	streams  = flag.Int("streams", 1000, "idle streams held open at once")
	nkeys    = flag.Int("keys", 64, "keys of the proxy")
	rounds   = flag.Int("rounds", 3, "rounds of load; each loads every front in turn, and the best round of each front is reported")
)

var answer = []byte(`{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}]}`)

func main() {
	log.SetFlags(0)
	flag.Parse()
	fmt.Printf("proxybench: %d connections, %d rounds of %s per front (after %s warm-up), %d idle streams; GOMAXPROCS %d, %s\n",
		*conns, *rounds, *duration, *warmup, *streams, runtime.GOMAXPROCS(0), runtime.Version())
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", l)
	}

	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.Contains(r.URL.Path, "stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {}\n\n"))
			http.NewResponseController(w).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	upstream.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer upstream.Close()

	bare := bareProxy(upstream.URL)
	mem, closeMem := jonglerProxy(upstream.URL, jongler.NewMemoryStore())
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fs, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	file, closeFile := jonglerProxy(upstream.URL, fs)

	fronts := []front{
		{"direct (no proxy)", upstream.URL},
		{"httputil.ReverseProxy", serve(bare)},
		{"serve, memory store", serve(mem)},
		{"serve, file store", serve(file)},
	}
	if *streams > 0 {
		// First, while no connection from a load is idle to be reused.
		fmt.Printf("\n%d idle streams held open at once (client, proxy and upstream in this process):\n", *streams)
		fmt.Printf("%-24s %14s %12s %10s\n", "front", "heap/stream", "goroutines", "fds")
		d := idle(upstream.URL, release)
		fmt.Printf("%-24s %14s %12.1f %10.1f\n", "direct (no proxy)", kib(d.heap), d.goroutines, d.fds)
		for _, f := range fronts[1:] {
			s := idle(f.url, release)
			fmt.Printf("%-24s %14s %12.1f %10.1f   proxy's share: %s, %.1f goroutines, %.1f fds\n", f.name, kib(s.heap), s.goroutines, s.fds,
				kib(s.heap-d.heap), s.goroutines-d.goroutines, s.fds-d.fds)
		}
	}
	for _, n := range []int{*conns, 1} {
		compare(fronts, n)
	}
	closeMem()
	closeFile()
	fs.Close()
}

type front struct {
	name string
	url  string
}

// compare loads every front from conns connections, -rounds times, and
// prints the best round of each.
func compare(fronts []front, conns int) {
	// Rounds interleave the fronts, so that a burst of load from elsewhere
	// on the machine hits them alike; each front's best round is kept.
	best := make([]result, len(fronts))
	all := make([][]result, len(fronts))
	for range *rounds {
		for i, f := range fronts {
			r := load(f.url, conns)
			all[i] = append(all[i], r)
			if best[i].rps == 0 || r.p50 < best[i].p50 {
				best[i] = r
			}
		}
	}
	fmt.Printf("\n%d connections, best of %d interleaved rounds of %s (by p50):\n", conns, *rounds, *duration)
	fmt.Printf("%-24s %12s %10s %10s %12s %12s %12s %10s %10s\n", "front", "requests/s", "p50", "p99", "p50 added", "p99 added", "rps vs bare", "CPU/req", "CPU added")
	for i, f := range fronts {
		r := best[i]
		added := func(a, b time.Duration) string {
			if i == 0 {
				return "-"
			}
			return fmt.Sprintf("%+.1fµs", float64(a-b)/1e3)
		}
		vsBare := "-"
		if i >= 1 {
			vsBare = fmt.Sprintf("%.1f%%", 100*r.rps/best[1].rps)
		}
		cpu, cpuAdded := "-", "-"
		if r.cpu >= 0 {
			cpu = us(r.cpu)
			if i > 0 {
				cpuAdded = added(r.cpu, best[0].cpu)
			}
		}
		fmt.Printf("%-24s %12.0f %10s %10s %12s %12s %12s %10s %10s\n", f.name, r.rps, us(r.p50), us(r.p99), added(r.p50, best[0].p50), added(r.p99, best[0].p99), vsBare, cpu, cpuAdded)
	}
	fmt.Printf("\nevery round (requests/s, p50, CPU per request):\n")
	for i, f := range fronts {
		fmt.Printf("%-24s", f.name)
		for _, r := range all[i] {
			fmt.Printf(" %8.0f %10s %8s", r.rps, us(r.p50), us(r.cpu))
		}
		fmt.Println()
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }
func kib(b float64) string      { return fmt.Sprintf("%.1f KiB", b/1024) }

// serve starts h on a loopback port, as `serve` does, and returns its URL.
func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * max(*conns, *streams)
	return t
}

func bareProxy(target string) http.Handler {
	u, _ := url.Parse(target)
	return &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: upstreamTransport(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
}

func jonglerProxy(target string, store jongler.Store) (http.Handler, func()) {
	var keys []jongler.Key
	for i := range *nkeys {
		keys = append(keys, jongler.Key{Name: fmt.Sprintf("key%02d", i), Value: fmt.Sprintf("value-%02d-0123456789", i)})
	}
	slots := max(1, (max(*conns, *streams)+*nkeys-1) / *nkeys)
	// serve's metrics (an OpenTelemetry SDK provider with its Prometheus
	// exporter, never scraped here), access log (text, to nowhere) and
	// logs: their cost is part of serve's.
	mp, _, err := serving.NewMetrics("proxybench")
	if err != nil {
		log.Fatal(err)
	}
	access, err := serving.AccessLog(io.Discard, "text")
	if err != nil {
		log.Fatal(err)
	}
	sc := serving.Config{
		Store:   store,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Access:  access,
		Meters:  mp,
		Tokens:  []string{"bench-token"},
		MaxBody: proxy.DefaultMaxBodyBytes,
		Leases:  jongler.NewLeaseGroup(),
		Limits:  serving.DefaultLimits(),
	}
	t, err := jongler.NewTransport(jongler.ConnectorGemini, append(sc.TransportOptions(),
		jongler.WithKeys(keys...), jongler.WithBaseURL(target),
		jongler.WithBaseTransport(upstreamTransport()), jongler.WithMaxInFlight(slots))...)
	if err != nil {
		log.Fatal(err)
	}
	h, err := proxy.New([]*jongler.Transport{t}, sc.ProxyOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	return h, func() {
		t.Close()
		mp.Shutdown(context.Background())
	}
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // CPU time of the process per request, or -1
}

// load sends requests to base from conns goroutines, each with its own
// connection, for -warmup then -duration, and measures the latter.
func load(base string, conns int) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := []byte(`{"contents":[{"parts":[{"text":"Hello"}]}]}`)
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	// The process's CPU time over the measured span: clients, proxy and
	// upstream together, so that a front's figure less the direct one's is
	// what the proxy costs a request, which other work on the machine
	// disturbs far less than the throughput.
	cpu0 := make(chan time.Duration, 1)
	time.AfterFunc(*warmup, func() {
		c, _ := cputime.Process()
		cpu0 <- c
	})
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
				req.Header.Set("x-goog-api-key", "bench-token")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					log.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					log.Fatalf("%s: status %d", base, resp.StatusCode)
				}
				if t0.After(measureFrom) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu1, ok := cputime.Process()
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[int(float64(len(lats)-1)*p)] }
	r := result{rps: float64(len(lats)) / duration.Seconds(), p50: pct(0.50), p99: pct(0.99), cpu: -1}
	if ok {
		r.cpu = (cpu1 - <-cpu0) / time.Duration(len(lats))
	}
	return r
}

type idleResult struct{ heap, goroutines, fds float64 }

// idle opens -streams streams to base, reads each one's first event, and
// measures the process with all of them open, per stream.
func idle(base string, release chan struct{}) idleResult {
	before := snapshot()
	tr := &http.Transport{MaxIdleConnsPerHost: *streams, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var bodies []io.ReadCloser
	for range *streams {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", strings.NewReader(`{}`))
		req.Header.Set("x-goog-api-key", "bench-token")
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		if resp.StatusCode != 200 {
			log.Fatalf("%s: stream: status %d", base, resp.StatusCode)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			log.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	after := snapshot()
	n := float64(*streams)
	r := idleResult{
		heap:       (after.heap - before.heap) / n,
		goroutines: (after.goroutines - before.goroutines) / n,
		fds:        (after.fds - before.fds) / n,
	}
	cancel()
	for _, b := range bodies {
		b.Close()
	}
	tr.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond) // let the servers' handlers return
	return r
}

func snapshot() idleResult {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	return idleResult{heap: float64(m.HeapInuse), goroutines: float64(runtime.NumGoroutine()), fds: float64(fds)}
}
