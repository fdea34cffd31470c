// Command compatload is the compat side of bench/original.py: it sends
// the benchmark's workload through package compat (the Python original's
// calls, in Go) and prints what it saw as one JSON line.
//
//	compatload -requests 15 -workers 8 -pause 5s
//
// Keys, connectors and the state directory come from the environment
// ($APIJONGLER_CONFIG, $APIJONGLER_CONNECTORS, $APIJONGLER_STATE_DIR), as
// for any program using compat. Each worker takes the next request and
// sends it until it is served: after a 429, or no key, it waits the
// Retry-After the error gives (or -pause) and sends it again.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
	"github.com/api-jongler/jongler/internal/cputime"
)

// result is what compatload prints.
type result struct {
	Served  int64   `json:"served"`
	Seen429 int64   `json:"seen_429"`
	Errors  int64   `json:"errors"`
	Wall    float64 `json:"wall_s"`
	CPU     float64 `json:"cpu_s"`
}

func main() {
	requests := flag.Int("requests", 15, "requests to serve")
	workers := flag.Int("workers", 1, "workers sending at once")
	pause := flag.Duration("pause", 5*time.Second, "wait after a refusal that gives no Retry-After")
	model := flag.String("model", "gemini-2.5-flash", "model")
	flag.Parse()

	j, err := compat.New(jongler.ConnectorGemini)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compatload:", err)
		os.Exit(1)
	}
	defer j.Close()
	endpoint := "/v1beta/models/" + *model + ":generateContent"
	var next atomic.Int64
	var res result
	cpu0, _ := cputime.Process()
	start := time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*requests) {
					return
				}
				body := fmt.Sprintf(`{"contents":[{"parts":[{"text":"request %d"}]}]}`, i)
				for {
					_, status, err := j.Request(context.Background(), "POST", endpoint, body)
					var nk *jongler.NoKeyError
					switch {
					case err == nil && status == 200:
						atomic.AddInt64(&res.Served, 1)
					case errors.As(err, &nk) || status == 429:
						atomic.AddInt64(&res.Seen429, 1)
						wait := *pause
						if nk != nil && nk.RetryAfter > 0 {
							wait = nk.RetryAfter
						}
						time.Sleep(wait)
						continue
					default:
						atomic.AddInt64(&res.Errors, 1)
					}
					break
				}
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(start).Seconds()
	cpu1, _ := cputime.Process()
	res.CPU = (cpu1 - cpu0).Seconds()
	json.NewEncoder(os.Stdout).Encode(res)
}
