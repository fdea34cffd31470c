package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/routetest"
	"github.com/api-jongler/jongler/route"
)

// demoRoutesCmd is `apijongler demo routes`.
func (a *app) demoRoutesCmd() *cobra.Command {
	requests := 8
	minute := 1200 * time.Millisecond
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Watch a route fall through three simulated free tiers: no keys, no network needed",
		Long: `demo routes starts three simulated free tiers in this process: a Gemini API
(2 requests a minute, its quota told in 429 bodies), a header-style provider
(2 a minute, told in x-ratelimit-* headers) and a third (2 a minute), and sends
requests for the route "fast" over the three, as 'serve' would, then once
more after the minute. Each line says which tier served, or that every tier
was spent and when the first has room again (in simulated seconds). It ends
with the 429s each tier sent: one from Gemini, whose quota is learned from
it, none from the others, whose headers said when they were spent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if requests < 1 || requests > 100 {
				return usageErrorf("--requests %d: want 1 to 100", requests)
			}
			if minute < 100*time.Millisecond {
				return usageErrorf("--minute %s: want 100ms or more", minute)
			}
			return a.runDemoRoutes(cmd.Context(), requests, minute)
		},
	}
	cmd.Flags().IntVar(&requests, "requests", requests, "requests in the burst")
	cmd.Flags().DurationVar(&minute, "minute", minute, "how long a simulated minute lasts here")
	return cmd
}

func (a *app) runDemoRoutes(ctx context.Context, requests int, minute time.Duration) error {
	// As the demo: none of the user's configuration, 127.0.0.1 only.
	os.Unsetenv(jongler.TorEnv)
	os.Unsetenv(jongler.ConnectorsDirEnv)
	tiers, err := routetest.New(routetest.Config{Minute: minute, CerebrasRPM: 2})
	if err != nil {
		return err
	}
	defer tiers.Close()
	h, err := route.New(tiers.Transports, []route.Route{routetest.Route("fast", 0)}, route.WithClock(tiers.Clock))
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	w := a.stdout
	fmt.Fprintf(w, "%s\n", a.paint(ansiBold, "API Jongler demo: a route over three free tiers"))
	fmt.Fprintf(w, "route fast = %s, %s, %s\n", routetest.GeminiTarget, routetest.GroqTarget, routetest.CerebrasTarget)
	fmt.Fprintln(w, "Each tier takes 2 requests a simulated minute; Gemini says so in its 429s, the others in their headers.")
	send := func(i int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":"Hello"}]}`))
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Fprintf(w, "  #%-2d %v\n", i, err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Fprintf(w, "  #%-2d 200 OK from %s\n", i, resp.Header.Get(route.TargetHeader))
			return
		}
		fmt.Fprintf(w, "  #%-2d %s, Retry-After %ss (simulated): every tier spent\n", i, resp.Status, resp.Header.Get("Retry-After"))
	}
	for i := range requests {
		send(i + 1)
	}
	fmt.Fprintln(w, "A simulated minute later:")
	if err := tiers.Clock.Sleep(ctx, time.Minute-tiers.Clock.Now().Sub(tiers.Clock.Now().Truncate(time.Minute))); err != nil {
		return err
	}
	send(requests + 1)
	fmt.Fprintln(w, "What the tiers answered:")
	g, q, c := tiers.Gemini.Stats(), tiers.Groq.Stats(), tiers.Cerebras.Stats()
	fmt.Fprintf(w, "  Gemini-style  %d served, %d 429 (its quota learned from it)\n", g.Successes, g.RateLimited)
	fmt.Fprintf(w, "  header-style  %d served, %d 429\n", q.Served, q.RateLimited)
	fmt.Fprintf(w, "  third         %d served, %d 429\n", c.Served, c.RateLimited)
	return nil
}
