package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// ModelSpec is one model of the simulated API: its quotas per project and
// its share of the workload's requests.
type ModelSpec struct {
	Name   string `json:"name"`
	RPM    int    `json:"rpm"` // jonglertest.Unlimited (-1): no limit
	RPD    int    `json:"rpd"`
	Weight int    `json:"weight"`
}

// modelList is the -models flag: NAME=RPM/RPD*WEIGHT,..., "-" for no limit.
type modelList []ModelSpec

func (l *modelList) String() string {
	var parts []string
	for _, m := range *l {
		parts = append(parts, fmt.Sprintf("%s=%s/%s*%d", m.Name, limitText(m.RPM), limitText(m.RPD), m.Weight))
	}
	return strings.Join(parts, ",")
}

func limitText(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func (l *modelList) Set(v string) error {
	var out modelList
	for part := range strings.SplitSeq(v, ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return fmt.Errorf("%q: want NAME=RPM/RPD[*WEIGHT]", part)
		}
		m := ModelSpec{Name: name, Weight: 1}
		if s, w, ok := strings.Cut(spec, "*"); ok {
			n, err := strconv.Atoi(w)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q: weight %q", part, w)
			}
			spec, m.Weight = s, n
		}
		rpm, rpd, ok := strings.Cut(spec, "/")
		if !ok {
			return fmt.Errorf("%q: want NAME=RPM/RPD[*WEIGHT]", part)
		}
		var err error
		if m.RPM, err = parseLimit(rpm); err != nil {
			return fmt.Errorf("%q: %v", part, err)
		}
		if m.RPD, err = parseLimit(rpd); err != nil {
			return fmt.Errorf("%q: %v", part, err)
		}
		out = append(out, m)
	}
	*l = out
	return nil
}

func parseLimit(s string) (int, error) {
	if s == "-" {
		return jonglertest.Unlimited, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("limit %q: want a positive number or -", s)
	}
	return n, nil
}

// QuotaConfig is the quota benchmark's configuration.
type QuotaConfig struct {
	Keys     int           `json:"keys"`
	Projects int           `json:"projects"`
	Models   []ModelSpec   `json:"models"`
	Minute   time.Duration `json:"minute_ns"` // wall length of a simulated minute
	Windows  int           `json:"windows"`   // quota-minute windows measured
	Workers  int           `json:"workers"`
	Modes    []string      `json:"modes"`
	Store    string        `json:"store"`      // "file" or "memory", for jongler's modes
	Latency  time.Duration `json:"latency_ns"` // the server's wall delay before a 200
	Pause    time.Duration `json:"pause_ns"`   // simulated pause after a failure
}

// The modes of the quota benchmark.
const (
	modePolicy  = "policy"
	modeBudgets = "budgets"
	modeNaive   = "naive"
	// modeHeaders: the server also sends OpenAI-style rate-limit headers
	// (jonglertest's Config.RateLimitHeaders) and jongler reads them with
	// the "openai" policy of a connector of its own: a header provider
	// with Gemini's quotas.
	modeHeaders = "headers"
)

// ModelResult is one model's part of a mode's outcome.
type ModelResult struct {
	Model string `json:"model"`
	// Capacity is the most successes the quotas allow in the measured
	// windows (jonglertest's Server.Capacity); Offered is how many
	// requests for the model the workload issued in them; Successes how
	// many the server admitted in them and answered in full.
	Capacity  int `json:"capacity"`
	Offered   int `json:"offered"`
	Successes int `json:"successes"`
	// RateLimited is the 429s the server sent for the model in the windows.
	RateLimited int     `json:"rate_limited"`
	Utilisation float64 `json:"utilisation"`
}

// ModeResult is the outcome of one mode.
type ModeResult struct {
	Mode string `json:"mode"`
	// Utilisation is Successes / Usable, Usable being the sum over models
	// of min(Capacity, Offered): the share of what the workload could have
	// had from the quotas that it got.
	Utilisation float64 `json:"utilisation"`
	Successes   int     `json:"successes"`
	Usable      int     `json:"usable"`
	Capacity    int     `json:"capacity"`
	Offered     int     `json:"offered"`
	// Sends is every request the server received, 429s included.
	Sends int `json:"sends"`
	// RateLimited is the 429s the server sent in the measured windows;
	// MaxPerWindow the most for one (project, model, window); OverOne the
	// (project, model, window)s with more than one; Cells the number of
	// (project, model, window)s measured.
	RateLimited  int     `json:"rate_limited"`
	MaxPerWindow int     `json:"max_429_per_window"`
	MeanPerCell  float64 `json:"mean_429_per_window"`
	// MaxPerModel is the most 429s one (project, model) got in the run;
	// Kinds the most quota kinds (per minute, per day) a model has.
	MaxPerModel int `json:"max_429_per_project_model"`
	Kinds       int `json:"quota_kinds"`
	OverOne     int `json:"windows_over_one_429"`
	Cells       int `json:"windows"`
	// Overlaps is jonglertest's count of requests sent with a key that
	// another request was using.
	Overlaps int `json:"overlaps"`
	// What the callers saw, for requests issued in the measured windows.
	Caller CallerCounts `json:"caller"`
	// Latency of the successful requests, from issue to the end of the
	// answer, in simulated and in wall time.
	LatencySimP50  time.Duration `json:"latency_sim_p50_ns"`
	LatencySimP99  time.Duration `json:"latency_sim_p99_ns"`
	LatencyWallP50 time.Duration `json:"latency_wall_p50_ns"`
	LatencyWallP99 time.Duration `json:"latency_wall_p99_ns"`
	Wall           time.Duration `json:"wall_ns"`
	Models         []ModelResult `json:"models"`
	// Limited lists the first (project, model, window)s with a 429, in
	// order, with the successes of the window and of the one before: a
	// budget that counted a request in one window that the server counted
	// in the next shows as a window with RPM-1 successes followed by a
	// 429.
	Limited []LimitedWindow `json:"limited_windows,omitempty"`
	// FirstError is the first error or unexpected status a caller saw.
	FirstError string `json:"first_error,omitempty"`
	Goal       string `json:"goal"`
	GoalMet    *bool  `json:"goal_met,omitempty"` // nil: no goal for this mode
}

// LimitedWindow is a (project, model, window) that got a 429.
type LimitedWindow struct {
	Project     string `json:"project"`
	Model       string `json:"model"`
	Window      int64  `json:"window"`
	RateLimited int    `json:"rate_limited"`
	Successes   int    `json:"successes"`
	Before      int    `json:"successes_window_before"`
}

// maxLimited bounds ModeResult.Limited.
const maxLimited = 20

// CallerCounts are the outcomes callers saw.
type CallerCounts struct {
	OK       int `json:"ok"`
	Status   int `json:"status_429"`   // a 429 handed to the caller
	NoKey    int `json:"no_key"`       // jongler.ErrNoKeys: every key cooling down past the wait allowed
	Other    int `json:"other"`        // other errors and statuses
	Canceled int `json:"canceled_end"` // still waiting or in flight when the run ended
}

// QuotaReport is what "jonglerbench quota" reports.
type QuotaReport struct {
	Benchmark string       `json:"benchmark"`
	Machine   Machine      `json:"machine"`
	Config    QuotaConfig  `json:"config"`
	Results   []ModeResult `json:"results"`
}

func defaultModels() modelList {
	return modelList{
		{Name: "gemini-2.5-flash", RPM: 10, RPD: 100, Weight: 2},
		{Name: "gemini-2.5-pro", RPM: 5, RPD: 25, Weight: 1},
		{Name: "gemini-2.5-flash-lite", RPM: 15, RPD: jonglertest.Unlimited, Weight: 1},
	}
}

func quotaCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jonglerbench quota", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := QuotaConfig{}
	models := defaultModels()
	modes := modePolicy + "," + modeBudgets + "," + modeHeaders + "," + modeNaive
	fs.IntVar(&cfg.Keys, "keys", 6, "keys in the pool")
	fs.IntVar(&cfg.Projects, "projects", 0, "Google Cloud projects the keys are spread over (0: one per key)")
	fs.Var(&models, "models", "models as NAME=RPM/RPD*WEIGHT,... (- for no limit; WEIGHT is the model's share of the goroutines)")
	fs.DurationVar(&cfg.Minute, "minute", 250*time.Millisecond, "wall length of a simulated minute")
	fs.IntVar(&cfg.Windows, "windows", 12, "quota-minute windows to run and measure")
	fs.IntVar(&cfg.Workers, "workers", 32, "goroutines sending requests")
	fs.StringVar(&modes, "modes", modes, "modes to run: policy (jongler, learning quotas), budgets (jongler with budgets), headers (a header provider with the same quotas), naive (rotate on 429, remember nothing)")
	fs.StringVar(&cfg.Store, "store", "file", "jongler's store: file or memory")
	fs.DurationVar(&cfg.Latency, "latency", 0, "the server's wall delay before each successful answer")
	fs.DurationVar(&cfg.Pause, "pause", time.Second, "simulated pause of a caller after a failed request")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: jonglerbench quota [flags]\n\n"+
			"Runs the same workload against a fresh simulated Gemini API (jonglertest) per mode\n"+
			"and reports the share of the quotas used, 429s per (project, model, window) and latency.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Models = models
	for m := range strings.SplitSeq(modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case modePolicy, modeBudgets, modeHeaders, modeNaive:
			cfg.Modes = append(cfg.Modes, m)
		default:
			return fmt.Errorf("unknown mode %q: want policy, budgets, headers or naive", m)
		}
	}
	if cfg.Projects == 0 {
		cfg.Projects = cfg.Keys
	}
	switch {
	case cfg.Keys <= 0 || cfg.Projects <= 0 || cfg.Projects > cfg.Keys:
		return errors.New("-keys must be positive and -projects at most -keys")
	case cfg.Minute <= 0 || cfg.Windows <= 0 || cfg.Workers <= 0:
		return errors.New("-minute, -windows and -workers must be positive")
	case cfg.Store != "file" && cfg.Store != "memory":
		return fmt.Errorf("-store %q: want file or memory", cfg.Store)
	}
	rep := &QuotaReport{Benchmark: "quota", Machine: machine(), Config: cfg}
	for _, mode := range cfg.Modes {
		fmt.Fprintf(stderr, "quota: %s, %d windows of %v...\n", mode, cfg.Windows, cfg.Minute)
		res, err := runQuota(context.Background(), cfg, mode)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		rep.Results = append(rep.Results, res)
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	printQuota(stdout, rep)
	return nil
}

// simStart is the simulated start of every run: on a minute, far from a
// Los Angeles midnight, so that a run lives within one quota day.
func simStart() time.Time {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		panic(err) // jonglertest imports time/tzdata
	}
	return time.Date(2026, 5, 4, 9, 0, 0, 0, la)
}

const requestBody = `{"contents":[{"parts":[{"text":"Hello"}]}]}`

// runQuota runs the workload once against a new server with mode.
func runQuota(ctx context.Context, cfg QuotaConfig, mode string) (ModeResult, error) {
	res := ModeResult{Mode: mode}
	var jk []jonglertest.Key
	var keys []jongler.Key
	for i := range cfg.Keys {
		label := fmt.Sprintf("key%d", i+1)
		value := fmt.Sprintf("jonglerbench-%s-%d-%x", mode, i+1, rand.Uint64())
		project := fmt.Sprintf("project-%d", i%cfg.Projects+1)
		jk = append(jk, jonglertest.Key{Label: label, Value: value, Project: project})
		keys = append(keys, jongler.Key{Name: label, Value: value, Project: project})
	}
	quotas := map[string]jonglertest.Quota{}
	var budgets []jongler.Budget
	for _, m := range cfg.Models {
		quotas[m.Name] = jonglertest.Quota{RPM: m.RPM, RPD: m.RPD}
		budgets = append(budgets, jongler.Budget{Model: m.Name, PerMinute: max(m.RPM, 0), PerDay: max(m.RPD, 0)})
	}
	start := simStart()
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: jk, Models: quotas, Minute: cfg.Minute, Start: start,
		Latency: cfg.Latency, StreamGap: -1,
		RateLimitHeaders: mode == modeHeaders,
	})
	defer srv.Close()
	end := srv.WindowStart(int64(cfg.Windows))

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 2 * cfg.Workers
	defer base.CloseIdleConnections()
	var rt http.RoundTripper
	switch mode {
	case modeNaive:
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = k.Value
		}
		rt = &naiveRotator{keys: values, base: base}
	default:
		opts := []jongler.Option{
			jongler.WithKeys(keys...),
			jongler.WithBaseURL(srv.URL),
			jongler.WithBaseTransport(base),
			jongler.WithClock(srv.Clock()),
			// Simulated time: a request waits for a key back within two
			// minutes (a per-minute cooldown), not for one back tomorrow.
			jongler.WithMaxWait(2 * time.Minute),
		}
		if cfg.Store == "memory" {
			opts = append(opts, jongler.WithStore(jongler.NewMemoryStore()))
		} else {
			dir, err := os.MkdirTemp("", "jonglerbench-quota-")
			if err != nil {
				return res, err
			}
			defer os.RemoveAll(dir)
			opts = append(opts, jongler.WithStateDir(dir))
		}
		if mode == modeBudgets {
			opts = append(opts, jongler.WithBudgets(budgets...))
		}
		connector := jongler.ConnectorGemini
		if mode == modeHeaders {
			dir, err := os.MkdirTemp("", "jonglerbench-connectors-")
			if err != nil {
				return res, err
			}
			defer os.RemoveAll(dir)
			u, _ := url.Parse(srv.URL)
			conn := fmt.Sprintf(`{"name":"jonglertest-headers","host":%q,"port":%s,"protocol":"http","requires_api_key":true,"api_key_header":"x-goog-api-key","policy":"openai"}`,
				u.Hostname(), u.Port())
			if err := os.WriteFile(filepath.Join(dir, "jonglertest-headers.json"), []byte(conn), 0o600); err != nil {
				return res, err
			}
			connector = "jonglertest-headers"
			opts = append(opts, jongler.WithConnectorsDir(dir))
		}
		tr, err := jongler.NewTransport(connector, opts...)
		if err != nil {
			return res, err
		}
		rt = tr
	}
	client := &http.Client{Transport: rt}

	// The run ends when simulated time reaches the end of the last
	// measured window; requests waiting or in flight then are canceled.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := time.AfterFunc(srv.Clock().ToWall(end.Sub(srv.Now())), cancel)
	defer stop.Stop()

	// Goroutine w always asks for model pool[w % len(pool)], each model
	// appearing in pool as many times as its weight: every model has its
	// own goroutines, so that requests waiting for one model's keys never
	// hold back the others' and every model is asked for without pause.
	var pool []string
	for _, m := range cfg.Models {
		for range m.Weight {
			pool = append(pool, m.Name)
		}
	}
	type workerOut struct {
		offered  map[string]int
		caller   CallerCounts
		sim      []time.Duration
		wall     []time.Duration
		firstErr error
	}
	outs := make([]workerOut, cfg.Workers)
	wallStart := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		model := pool[w%len(pool)]
		wg.Go(func() {
			out := &outs[w]
			out.offered = map[string]int{}
			for runCtx.Err() == nil {
				issued, issuedWall := srv.Now(), time.Now()
				if !issued.Before(end) {
					break
				}
				out.offered[model]++
				req, err := http.NewRequestWithContext(runCtx, http.MethodPost,
					srv.URL+"/v1beta/models/"+model+":generateContent", strings.NewReader(requestBody))
				if err != nil {
					out.firstErr = err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				switch {
				case runCtx.Err() != nil:
					out.caller.Canceled++
				case errors.Is(err, jongler.ErrNoKeys):
					out.caller.NoKey++
				case err != nil:
					out.caller.Other++
					if out.firstErr == nil {
						out.firstErr = err
					}
				case resp.StatusCode == http.StatusOK:
					out.caller.OK++
					out.sim = append(out.sim, srv.Now().Sub(issued))
					out.wall = append(out.wall, time.Since(issuedWall))
					continue
				case resp.StatusCode == http.StatusTooManyRequests:
					out.caller.Status++
				default:
					out.caller.Other++
					if out.firstErr == nil {
						out.firstErr = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				// A failed request is not retried; the caller pauses
				// before its next one, whatever the mode.
				srv.Clock().Sleep(runCtx, cfg.Pause)
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(wallStart)

	offered := map[string]int{}
	var sims, walls []time.Duration
	for _, o := range outs {
		for m, n := range o.offered {
			offered[m] += n
		}
		res.Caller.OK += o.caller.OK
		res.Caller.Status += o.caller.Status
		res.Caller.NoKey += o.caller.NoKey
		res.Caller.Other += o.caller.Other
		res.Caller.Canceled += o.caller.Canceled
		sims = append(sims, o.sim...)
		walls = append(walls, o.wall...)
		if o.firstErr != nil && res.FirstError == "" {
			res.FirstError = o.firstErr.Error()
		}
	}
	res.LatencySimP50, res.LatencySimP99 = percentile(sims, 50), percentile(sims, 99)
	res.LatencyWallP50, res.LatencyWallP99 = percentile(walls, 50), percentile(walls, 99)

	st := srv.Stats()
	res.Sends = st.Requests
	res.Overlaps = st.Overlaps
	byModel := map[string]*ModelResult{}
	for _, m := range cfg.Models {
		mr := &ModelResult{Model: m.Name, Capacity: srv.Capacity(m.Name, start, end), Offered: offered[m.Name]}
		byModel[m.Name] = mr
	}
	for w, c := range st.Windows {
		if w.Minute < 0 || w.Minute >= int64(cfg.Windows) {
			continue
		}
		if mr := byModel[w.Model]; mr != nil {
			mr.Successes += c.Successes
			mr.RateLimited += c.RateLimited
		}
		res.RateLimited += c.RateLimited
		res.MaxPerWindow = max(res.MaxPerWindow, c.RateLimited)
		if c.RateLimited > 1 {
			res.OverOne++
		}
	}
	for w, c := range st.Windows {
		if c.RateLimited > 0 && w.Minute >= 0 && w.Minute < int64(cfg.Windows) {
			prev := st.Windows[jonglertest.Window{Project: w.Project, Model: w.Model, Minute: w.Minute - 1}]
			res.Limited = append(res.Limited, LimitedWindow{Project: w.Project, Model: w.Model, Window: w.Minute,
				RateLimited: c.RateLimited, Successes: c.Successes, Before: prev.Successes})
		}
	}
	slices.SortFunc(res.Limited, func(a, b LimitedWindow) int {
		return cmp.Or(cmp.Compare(a.Window, b.Window), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Project, b.Project))
	})
	res.Limited = res.Limited[:min(len(res.Limited), maxLimited)]
	res.Cells = len(srv.Projects()) * len(cfg.Models) * cfg.Windows
	perPM := map[[2]string]int{}
	for w, c := range st.Windows {
		if w.Minute >= 0 && w.Minute < int64(cfg.Windows) {
			perPM[[2]string{w.Project, w.Model}] += c.RateLimited
		}
	}
	for _, n := range perPM {
		res.MaxPerModel = max(res.MaxPerModel, n)
	}
	for _, m := range cfg.Models {
		kinds := 0
		if m.RPM >= 0 {
			kinds++
		}
		if m.RPD >= 0 {
			kinds++
		}
		res.Kinds = max(res.Kinds, kinds)
	}
	res.MeanPerCell = float64(res.RateLimited) / float64(res.Cells)
	for _, m := range cfg.Models {
		mr := byModel[m.Name]
		usable := mr.Capacity
		if usable < 0 || mr.Offered < usable {
			usable = mr.Offered // Unlimited, or less asked than allowed
		}
		if usable > 0 {
			mr.Utilisation = float64(mr.Successes) / float64(usable)
		}
		res.Successes += mr.Successes
		res.Usable += usable
		res.Capacity += max(mr.Capacity, 0)
		res.Offered += mr.Offered
		res.Models = append(res.Models, *mr)
	}
	if res.Usable > 0 {
		res.Utilisation = float64(res.Successes) / float64(res.Usable)
	}
	switch mode {
	case modePolicy:
		// One 429 teaches each (project, model, quota kind): the minute
		// quota, and the day quota where the model has one.
		res.Goal = "≥ 95% of capacity, at most one 429 per (project, model, quota kind) in the run"
		met := res.Utilisation >= 0.95 && res.MaxPerModel <= res.Kinds
		res.GoalMet = &met
	case modeHeaders:
		res.Goal = "≥ 95% of capacity, no 429"
		met := res.Utilisation >= 0.95 && res.RateLimited == 0
		res.GoalMet = &met
	case modeBudgets:
		res.Goal = "≥ 99% of capacity, no 429"
		met := res.Utilisation >= 0.99 && res.RateLimited == 0
		res.GoalMet = &met
	default:
		res.Goal = "none (the original algorithm, for comparison)"
	}
	return res, nil
}

// percentile returns the p-th percentile of ds by nearest rank (0 when
// ds is empty); ds is sorted in place.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100 // ceil(p/100 × n), 1-based
	return ds[max(i, 1)-1]
}

func printQuota(w io.Writer, rep *QuotaReport) {
	c := rep.Config
	fmt.Fprintf(w, "Quota utilisation against jonglertest: %d keys in %d projects, %d goroutines, %d windows of %v (a simulated minute)\n",
		c.Keys, c.Projects, c.Workers, c.Windows, c.Minute)
	fmt.Fprintf(w, "models (per project): %s\n", (*modelList)(&c.Models))
	fmt.Fprintf(w, "machine: %s; jongler's store: %s; server latency %v\n\n", rep.Machine, c.Store, c.Latency)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tutilisation\tsuccesses/usable\tcapacity\toffered\tsends\t429s\tmax 429/window\twindows >1 429\tmax 429/(project, model)\toverlaps\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.2f%%\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%d\t%d\t\n", r.Mode, 100*r.Utilisation, r.Successes, r.Usable,
			r.Capacity, r.Offered, r.Sends, r.RateLimited, r.MaxPerWindow, r.OverOne, r.Cells, r.MaxPerModel, r.Overlaps)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tp50 simulated\tp99 simulated\tp50 wall\tp99 wall\tcaller: ok\t429\tno key\tother\tcut at end\twall time\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%d\t%d\t%d\t%d\t%d\t%v\t\n", r.Mode,
			r.LatencySimP50.Round(time.Millisecond), r.LatencySimP99.Round(time.Millisecond),
			r.LatencyWallP50.Round(time.Microsecond), r.LatencyWallP99.Round(time.Microsecond),
			r.Caller.OK, r.Caller.Status, r.Caller.NoKey, r.Caller.Other, r.Caller.Canceled, r.Wall.Round(time.Millisecond))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tmodel\tcapacity\toffered\tsuccesses\tutilisation\t429s\t")
	for _, r := range rep.Results {
		for _, m := range r.Models {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f%%\t%d\t\n", r.Mode, m.Model, m.Capacity, m.Offered, m.Successes, 100*m.Utilisation, m.RateLimited)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		met := "-"
		if r.GoalMet != nil {
			met = yesNo(*r.GoalMet)
		}
		fmt.Fprintf(w, "goal for %s: %s: met: %s\n", r.Mode, r.Goal, met)
		if r.Mode == modeBudgets && r.RateLimited > 0 {
			fmt.Fprintf(w, "  429s despite budgets (window: successes there, successes the window before):\n")
			for _, l := range r.Limited {
				fmt.Fprintf(w, "    %s %s window %d: %d × 429, %d successes, %d before\n", l.Project, l.Model, l.Window, l.RateLimited, l.Successes, l.Before)
			}
		}
		if r.FirstError != "" {
			fmt.Fprintf(w, "  first error a caller saw: %s\n", r.FirstError)
		}
	}
}
