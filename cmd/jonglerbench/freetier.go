package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/api-jongler/jongler/internal/routetest"
	"github.com/api-jongler/jongler/route"
)

// freetierResult is one mode's figures.
type freetierResult struct {
	Mode        string        `json:"mode"`
	Requests    int           `json:"requests"`
	Served      int           `json:"served"`
	Capacity    int           `json:"capacity"`     // what the tiers used allow of the requests, window by window as sent
	Upstream429 int           `json:"upstream_429"` // 429s the simulated providers sent
	Client429   int           `json:"client_429"`   // 429s the client got
	Wall        time.Duration `json:"wall_ns"`
}

// freetierCommand runs `jonglerbench freetier`: the same paced requests
// through a route over three simulated free tiers, through each tier
// alone, and through a plain chain that moves on only after a 429.
func freetierCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("freetier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("requests", 90, "requests in each mode, one after another")
	rate := fs.Int("rate", 30, "requests per simulated minute")
	minute := fs.Duration("minute", 600*time.Millisecond, "wall time of a simulated minute")
	gem := fs.Int("gemini-rpm", 10, "requests per minute of the Gemini-style tier (RetryInfo/QuotaFailure 429s)")
	groq := fs.Int("groq-rpm", 10, "requests per minute of the header-style tier (x-ratelimit-* headers)")
	cer := fs.Int("cerebras-rpm", 5, "requests per minute of the third tier, header-style too")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n <= 0 || *rate <= 0 || *minute <= 0 {
		fmt.Fprintln(stderr, "jonglerbench freetier: -requests, -rate and -minute must be positive")
		return errUsage
	}
	cfg := routetest.Config{Minute: *minute, GeminiRPM: *gem, GroqRPM: *groq, CerebrasRPM: *cer}
	windows := (*n + *rate - 1) / *rate // minutes the run spans
	modes := []struct {
		name    string
		targets []route.Target
		perMin  int
	}{
		{"route (3 tiers)", []route.Target{routetest.GeminiTarget, routetest.GroqTarget, routetest.CerebrasTarget}, *gem + *groq + *cer},
		{"gemini alone", []route.Target{routetest.GeminiTarget}, *gem},
		{"groq alone", []route.Target{routetest.GroqTarget}, *groq},
		{"cerebras alone", []route.Target{routetest.CerebrasTarget}, *cer},
		{"chain after 429", nil, *gem + *groq + *cer},
	}
	var results []freetierResult
	for _, m := range modes {
		r, sent, err := runFreetier(cfg, m.name, m.targets, *n, *rate)
		if err != nil {
			return err
		}
		for _, k := range sent {
			r.Capacity += min(k, m.perMin)
		}
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "%d requests at %d a simulated minute; tiers: Gemini-style %d/min, header-style %d/min, third %d/min; a minute = %s\n",
		*n, *rate, *gem, *groq, *cer, *minute)
	fmt.Fprintln(tw, "mode\tserved\tallowed\tupstream 429s\tclient 429s\twall\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", r.Mode, r.Served, r.Capacity, r.Upstream429, r.Client429, r.Wall.Round(time.Millisecond))
	}
	tw.Flush()
	rt := results[0]
	fmt.Fprintf(stdout, "goal: every request the combined quotas allow served: %v (%d of %d); upstream 429s at most one per learned quota (1, Gemini's): %v (%d)\n",
		rt.Served == rt.Capacity, rt.Served, rt.Capacity, rt.Upstream429 <= windows, rt.Upstream429)
	return nil
}

// runFreetier sends n requests at rate a simulated minute, through a route
// over targets, or (targets nil) a plain chain, on fresh tiers. It returns
// the figures and how many requests went in each minute window, as sent
// (a loaded machine may send one late, in the next window).
func runFreetier(cfg routetest.Config, mode string, targets []route.Target, n, rate int) (freetierResult, []int, error) {
	tiers, err := routetest.New(cfg)
	if err != nil {
		return freetierResult{}, nil, err
	}
	defer tiers.Close()
	send := chainSender(tiers)
	if targets != nil {
		h, err := route.New(tiers.Transports, []route.Route{{Name: "r", Targets: targets}}, route.WithClock(tiers.Clock))
		if err != nil {
			return freetierResult{}, nil, err
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		send = func() int { return post(srv.Client(), srv.URL+"/v1/chat/completions", "", "r") }
	}
	res := freetierResult{Mode: mode, Requests: n}
	var sent []int
	ctx := context.Background()
	start := time.Now()
	t0 := tiers.Clock.Now().Truncate(time.Minute)
	for i := range n {
		// Request i goes at its slot of its minute, on the tiers' clock.
		at := t0.Add(time.Duration(i/rate)*time.Minute + time.Duration(i%rate)*time.Minute/time.Duration(rate))
		tiers.Clock.Sleep(ctx, at.Sub(tiers.Clock.Now()))
		w := int(tiers.Clock.Now().Sub(t0) / time.Minute)
		for len(sent) <= w {
			sent = append(sent, 0)
		}
		sent[w]++
		switch send() {
		case http.StatusOK:
			res.Served++
		case http.StatusTooManyRequests:
			res.Client429++
		}
	}
	res.Wall = time.Since(start)
	res.Upstream429 = tiers.Gemini.Stats().RateLimited + tiers.Groq.Stats().RateLimited + tiers.Cerebras.Stats().RateLimited
	return res, sent, nil
}

// chainSender returns the rivals' way: send to each tier in turn, directly
// with its key, moving on only after its 429.
func chainSender(t *routetest.Tiers) func() int {
	keys := routetest.KeyValues()
	hops := []struct{ url, header, value, model string }{
		{t.Gemini.URL + "/v1beta/openai/chat/completions", "x-goog-api-key", keys[0], routetest.GeminiModel},
		{t.Groq.URL + "/openai/v1/chat/completions", "Authorization", "Bearer " + keys[1], routetest.GroqModel},
		{t.Cerebras.URL + "/v1/chat/completions", "Authorization", "Bearer " + keys[2], routetest.CerebrasModel},
	}
	client := &http.Client{}
	return func() int {
		status := 0
		for _, h := range hops {
			status = post(client, h.url, h.header+": "+h.value, h.model)
			if status != http.StatusTooManyRequests {
				break
			}
		}
		return status
	}
}

// post sends a chat completion for model to url with header ("Name:
// value", or ""), and returns the status, the body read.
func post(c *http.Client, url, header, model string) int {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"Hello"}]}`))
	req.Header.Set("Content-Type", "application/json")
	if name, value, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
