package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// demoConnector is the connector the demo plays: its policy is the one a
// real Gemini request gets.
const demoConnector = "generativelanguage.googleapis.com"

const demoModel = "gemini-2.5-flash"

type demoConfig struct {
	keys        int
	projects    int
	requests    int
	concurrency int
	rpm         int
	minute      time.Duration
	budget      time.Duration
}

func (a *app) demoCmd() *cobra.Command {
	cfg := demoConfig{keys: 3, requests: 36, rpm: 4, minute: 1200 * time.Millisecond, budget: 30 * time.Second}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch keys rotate, cool down and come back: no keys, no network needed",
		Long: `demo starts a simulated Gemini API in this process (package jonglertest: real
Google error bodies, per-project quotas, a clock that runs fast), gives it a
few made-up keys with small quotas, and sends a burst of requests through the
real transport, as 'apijongler CONNECTOR ...' would. Every line it prints is
something the transport did: a key answered, was rate-limited and cooled
down, or came back. It ends with a summary and the server's own counters.

Nothing leaves this machine and no key of yours is read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := refuseIgnoredFlags(cmd, "demo"); err != nil {
				return err
			}
			a.warnDeprecated(cmd, "budget", "timeout")
			switch {
			case cfg.keys < 1 || cfg.keys > 26:
				return usageErrorf("--keys %d: want 1 to 26", cfg.keys)
			case cfg.projects < 0 || cfg.projects > cfg.keys:
				return usageErrorf("--projects %d: want 1 to --keys", cfg.projects)
			case cfg.requests < 1 || cfg.requests > 10000:
				return usageErrorf("--requests %d: want 1 to 10000", cfg.requests)
			case cfg.rpm < 1:
				return usageErrorf("--rpm %d: want 1 or more", cfg.rpm)
			case cfg.minute < 10*time.Millisecond:
				return usageErrorf("--minute %s: want 10ms or more", cfg.minute)
			case cfg.budget <= 0:
				return usageErrorf("--timeout %s: want a positive duration", cfg.budget)
			}
			if cfg.concurrency <= 0 {
				cfg.concurrency = cfg.keys
			}
			cfg.concurrency = min(cfg.concurrency, cfg.requests)
			if cfg.projects == 0 {
				cfg.projects = cfg.keys
			}
			return a.runDemo(cmd.Context(), cfg)
		},
	}
	cmd.AddCommand(a.demoRoutesCmd()) // demo_routes.go
	f := cmd.Flags()
	f.IntVar(&cfg.keys, "keys", cfg.keys, "number of keys")
	f.IntVar(&cfg.projects, "projects", 0, "number of projects the keys are spread over; keys of a project share its quota (default: one per key)")
	f.IntVar(&cfg.requests, "requests", cfg.requests, "number of requests in the burst")
	f.IntVar(&cfg.concurrency, "concurrency", 0, "requests in flight at once (default: as many as keys)")
	f.IntVar(&cfg.rpm, "rpm", cfg.rpm, "requests per minute each project may make to "+demoModel)
	f.DurationVar(&cfg.minute, "minute", cfg.minute, "how long a simulated minute lasts")
	f.DurationVar(&cfg.budget, "timeout", cfg.budget, "give up after `DURATION`")
	addDeprecatedAlias(cmd, "budget", "timeout")
	cmd.AddCommand(a.demoServeCmd()) // demo_serve.go
	return cmd
}

func (a *app) runDemo(ctx context.Context, cfg demoConfig) error {
	// The demo reads none of the user's configuration, and talks to
	// 127.0.0.1 only, never through a proxy.
	os.Unsetenv(jongler.TorEnv)
	os.Unsetenv(jongler.ConnectorsDirEnv)

	keys := make([]jongler.Key, cfg.keys)
	serverKeys := make([]jonglertest.Key, cfg.keys)
	names := map[string]string{} // value to name
	for i := range keys {
		name := fmt.Sprintf("key%d", i+1)
		value := "demo-" + rand.Text() // made up, and never printed
		keys[i] = jongler.Key{Name: name, Value: value, Project: demoProject(i, cfg.keys, cfg.projects)}
		serverKeys[i] = jonglertest.Key{Label: name, Value: value, Project: keys[i].Project}
		names[value] = name
	}
	a.stdout.addKeys(keys)
	a.stderr.addKeys(keys)

	// Simulated time starts on a whole minute, so that the first quota
	// window is a full one.
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   serverKeys,
		Models: map[string]jonglertest.Quota{demoModel: {RPM: cfg.rpm, RPD: jonglertest.Unlimited}},
		Minute: cfg.minute,
		Start:  time.Now().Truncate(time.Minute),
	})
	defer srv.Close()
	clock := srv.Clock()

	d := &demoDisplay{a: a, start: time.Now(), clock: clock, cooling: map[string]time.Time{},
		attempts: map[int]int{}, width: len(fmt.Sprint(cfg.requests))}
	c, err := jongler.LookupConnector(demoConnector, "")
	if err != nil {
		return configError(err)
	}
	logger := slog.New(slog.NewMultiHandler(&demoLogHandler{d: d}, a.logger.Handler()))
	t, err := jongler.NewTransport(demoConnector,
		jongler.WithKeys(keys...),
		jongler.WithBaseURL(srv.URL),
		jongler.WithBaseTransport(&demoObserver{base: srv.Client().Transport, header: c.APIKeyHeader, names: names, d: d}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithClock(clock),
		// Wait for a cooling key rather than fail: a minute here is short.
		jongler.WithMaxWait(2*time.Minute),
		jongler.WithLogger(logger),
	)
	if err != nil {
		return configError(err)
	}
	defer t.CloseIdleConnections()

	a.demoIntro(cfg, srv)
	ctx, cancel := context.WithTimeout(ctx, cfg.budget)
	defer cancel()

	// Watch the store for keys coming back.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		d.watch(ctx, t)
	}()

	client := &http.Client{Transport: t}
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused, noKey, other int
	for range cfg.concurrency {
		wg.Go(func() {
			for n := range next {
				status, err := demoRequest(ctx, client, srv.URL, n)
				mu.Lock()
				switch {
				case err == nil && status == http.StatusOK:
					ok++
				case err == nil:
					refused++
					d.printf(n, "", ansiRed, "the caller gets %s %s: every key was tried", fmt.Sprint(status), http.StatusText(status))
				case errors.Is(err, jongler.ErrNoKeys):
					noKey++
					d.printf(n, "", ansiRed, "%s", message(err))
				case ctx.Err() != nil:
					other++
				default:
					other++
					d.printf(n, "", ansiRed, "%s", err.Error())
				}
				mu.Unlock()
			}
		})
	}
	for n := 1; n <= cfg.requests; n++ {
		select {
		case next <- n:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	timedOut := ctx.Err() != nil
	cancel()
	<-watchDone
	elapsed := time.Since(d.start)

	a.demoSummary(cfg, srv, d, elapsed, ok, refused, noKey, other)
	if timedOut {
		return &exitError{code: exitNoAnswer, err: fmt.Errorf("the demo ran out of its time (--timeout %s)", cfg.budget)}
	}
	return nil
}

// demoProject names the project of key i (from 0) of n spread over p
// projects: the first keys fill project-a, the next project-b, and so on.
func demoProject(i, n, p int) string {
	return "project-" + string(rune('a'+i*p/n))
}

// demoRequest sends request n and returns the status the caller got.
func demoRequest(ctx context.Context, client *http.Client, base string, n int) (int, error) {
	body := fmt.Sprintf(`{"contents":[{"parts":[{"text":"Hello, this is request %d"}]}]}`, n)
	req, err := http.NewRequestWithContext(context.WithValue(ctx, demoRequestKey{}, n), http.MethodPost,
		base+"/v1beta/models/"+demoModel+":generateContent", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func (a *app) demoIntro(cfg demoConfig, srv *jonglertest.Server) {
	fmt.Fprintf(a.stdout, "%s\n", a.paint(ansiBold, "API Jongler demo"))
	fmt.Fprintf(a.stdout, "A simulated Gemini API (jonglertest) listens on %s.\n", strings.TrimPrefix(srv.URL, "http://"))
	fmt.Fprintf(a.stdout, "It knows %s", plural(cfg.keys, "made-up key"))
	if cfg.projects == cfg.keys {
		fmt.Fprintf(a.stdout, ", each in a project of its own")
	} else {
		var groups []string
		for p := range cfg.projects {
			var names []string
			for i := range cfg.keys {
				if i*cfg.projects/cfg.keys == p {
					names = append(names, fmt.Sprintf("key%d", i+1))
				}
			}
			groups = append(groups, fmt.Sprintf("%s in project-%c", andList(names), 'a'+p))
		}
		fmt.Fprintf(a.stdout, ": %s", strings.Join(groups, ", "))
	}
	fmt.Fprintf(a.stdout, ".\n%s allows %d requests per minute per project; a minute lasts %s here.\n", demoModel, cfg.rpm, cfg.minute)
	fmt.Fprintf(a.stdout, "%s go through the real transport, %d at a time.\n\n", plural(cfg.requests, "request"), cfg.concurrency)
}

// andList returns "a", "a and b", "a, b and c".
func andList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (a *app) demoSummary(cfg demoConfig, srv *jonglertest.Server, d *demoDisplay, elapsed time.Duration, ok, refused, noKey, other int) {
	st := srv.Stats()
	d.mu.Lock()
	sent, got429, gotOther := d.sent, d.got429, d.gotOther
	d.mu.Unlock()
	w := a.stdout
	fmt.Fprintf(w, "\n%s\n", a.paint(ansiBold, "Summary"))
	line := fmt.Sprintf("%d of %d succeeded", ok, cfg.requests)
	if ok == cfg.requests {
		line = a.paint(ansiGreen, line)
	}
	fmt.Fprintf(w, "  requests        %s", line)
	for _, f := range []struct {
		n    int
		what string
	}{{refused, "got the 429 of its last key"}, {noKey, "found no key"}, {other, "had no answer"}} {
		if f.n > 0 {
			fmt.Fprintf(w, "; %d %s", f.n, f.what)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  sent            %d times to the server: %d × 200, %d × 429", sent, sent-got429-gotOther, got429)
	if gotOther > 0 {
		fmt.Fprintf(w, ", %d other", gotOther)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  429s absorbed   %d (rotated to another key or waited; the caller never saw them)\n", got429-refused)
	fmt.Fprintf(w, "  time            %s here, %s of simulated time\n", elapsed.Round(10*time.Millisecond), srv.Clock().ToSimulated(elapsed).Round(time.Second))
	fmt.Fprintf(w, "\nThe server's own counters:\n")
	tb := table{header: []string{"KEY", "PROJECT", "REQUESTS", "200", "429", "MOST IN FLIGHT"}}
	for i := range cfg.keys {
		name := fmt.Sprintf("key%d", i+1)
		k := st.Keys[name]
		tb.add([]string{name, k.Project, fmt.Sprint(k.Requests), fmt.Sprint(k.Successes), fmt.Sprint(k.RateLimited), fmt.Sprint(k.MaxInFlight)}, nil)
	}
	tb.print(a, "  ")
	fmt.Fprintf(w, "  total: %d requests, %d × 200, %d × 429; a key used by two requests at once: %d times\n",
		st.Requests, st.Successes, st.RateLimited, st.Overlaps)
}

type demoRequestKey struct{}

// demoObserver sits between the transport and the server and reports each
// attempt: which key the transport chose (by name: it looks the value up)
// and what the server answered.
type demoObserver struct {
	base   http.RoundTripper
	header string
	names  map[string]string
	d      *demoDisplay
}

func (o *demoObserver) RoundTrip(req *http.Request) (*http.Response, error) {
	name := o.names[req.Header.Get(o.header)]
	if name == "" {
		name = "no key"
	}
	n, _ := req.Context().Value(demoRequestKey{}).(int)
	resp, err := o.base.RoundTrip(req)
	if err != nil {
		o.d.attempt(n, name, 0, err)
		return nil, err
	}
	o.d.attempt(n, name, resp.StatusCode, nil)
	return resp, nil
}

// demoDisplay prints what happens, one line per event, with the wall time
// since the start.
type demoDisplay struct {
	a     *app
	start time.Time
	clock *jonglertest.Clock
	width int

	mu       sync.Mutex
	cooling  map[string]time.Time // keys in lockdown, until when
	attempts map[int]int          // attempts per request
	lastWait time.Time
	sent     int
	got429   int
	gotOther int
}

// printf prints one event of request n (0 for none) about key.
func (d *demoDisplay) printf(n int, key, color, format string, args ...any) {
	req := strings.Repeat(" ", d.width+1)
	if n > 0 {
		req = fmt.Sprintf("#%-*d", d.width, n)
	}
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(d.a.stdout, "%6.2fs  %s  %-5s  %s\n", time.Since(d.start).Seconds(), req, key, d.a.paint(color, msg))
}

func (d *demoDisplay) attempt(n int, key string, status int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A key used after its cooldown ended is back; one leased before its
	// project's cooldown began is not.
	if until, ok := d.cooling[key]; ok && !d.clock.Now().Before(until) {
		d.backLocked(key)
	}
	d.attempts[n]++
	d.sent++
	note := ""
	if a := d.attempts[n]; a > 1 {
		note = fmt.Sprintf("  (attempt %d)", a)
	}
	switch {
	case err != nil:
		d.gotOther++
		d.printf(n, key, ansiRed, "no answer: %v", err)
	case status == http.StatusOK:
		d.printf(n, key, ansiGreen, "200 OK%s", note)
	case status == http.StatusTooManyRequests:
		d.got429++
		d.printf(n, key, ansiYellow, "429 Too Many Requests%s", note)
	default:
		d.gotOther++
		d.printf(n, key, ansiRed, "%d %s%s", status, http.StatusText(status), note)
	}
}

// lockdown reports keys the transport cooled down, for model or all.
func (d *demoDisplay) lockdown(keys []string, model string, until time.Time, reason string) {
	what := "cooling down"
	if model != "" {
		what += " (" + model + ")"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		d.cooling[k] = until
		left := until.Sub(d.clock.Now())
		d.printf(0, k, ansiYellow, "%s for %s simulated (%s here): %s", what,
			left.Round(time.Second), d.clock.ToWall(left).Round(10*time.Millisecond), reason)
	}
}

// waiting reports that a request waits for a key to come back: every key
// it has not tried yet is cooling down.
func (d *demoDisplay) waiting(wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	back := d.clock.Now().Add(wait)
	if back.Sub(d.lastWait).Abs() < time.Second {
		return // another request waits for the same key
	}
	d.lastWait = back
	d.printf(0, "", ansiDim, "no key it may use is ready: a request waits %s for one to come back", d.clock.ToWall(wait).Round(10*time.Millisecond))
}

// backLocked reports key back from its cooldown, once.
func (d *demoDisplay) backLocked(key string) {
	if _, ok := d.cooling[key]; !ok {
		return
	}
	delete(d.cooling, key)
	d.printf(0, key, ansiGreen, "back: its cooldown is over")
}

// watch reads the keys' states from the transport's store until ctx ends,
// and reports the keys that left their lockdown.
func (d *demoDisplay) watch(ctx context.Context, t *jongler.Transport) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ks, err := t.KeyStates(ctx)
		if err != nil {
			continue
		}
		d.mu.Lock()
		for k := range d.cooling {
			if ks.Keys[k].State != jongler.StateLockdown {
				d.backLocked(k)
			}
		}
		d.mu.Unlock()
	}
}

// demoLogHandler turns the transport's log records of cooldowns and waits
// into lines of the display.
type demoLogHandler struct {
	d *demoDisplay
}

func (h *demoLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *demoLogHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "jongler: key in lockdown":
		var keys []string
		var until time.Time
		var reason, model string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "keys":
				keys, _ = a.Value.Any().([]string)
			case "until":
				until, _ = time.Parse(time.RFC3339Nano, a.Value.String())
			case "reason":
				reason = a.Value.String()
			case "model":
				model = a.Value.String()
			}
			return true
		})
		h.d.lockdown(keys, model, until, reason)
	case "jongler: waiting for a key to cool down":
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "for" {
				h.d.waiting(a.Value.Duration())
			}
			return true
		})
	}
	return nil
}

func (h *demoLogHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *demoLogHandler) WithGroup(string) slog.Handler      { return h }
