package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
)

// OverheadConfig is what "jonglerbench overhead" measures.
type OverheadConfig struct {
	Variants []string  `json:"variants"`
	Networks []string  `json:"networks"`    // "none", "loopback"
	Parallel []int     `json:"parallel"`    // requests in flight at once
	Keys     []int     `json:"keys"`        // key counts
	Budgets  bool      `json:"budgets"`     // a budget for the model asked for, too large to bind
	Rounds   int       `json:"rounds"`      // blocks per variant
	Requests int       `json:"requests"`    // requests per block
	Warmup   int       `json:"warmup"`      // requests per variant before the first round
	MaxInUse int       `json:"inflight"`    // slots per key in parallel runs (0: parallel/keys, at least 1)
	Seed     uint64    `json:"seed"`        // order of the variants in each round
	Machine  Machine   `json:"machine"`     // filled in by the run
	Started  time.Time `json:"started_utc"` // filled in by the run
}

// OverheadReport is the result of "jonglerbench overhead".
type OverheadReport struct {
	Benchmark string             `json:"benchmark"`
	Config    OverheadConfig     `json:"config"`
	Scenarios []OverheadScenario `json:"scenarios"`
	Goals     []GoalCheck        `json:"goals"`
}

// OverheadScenario is one network, parallelism and key count, with every
// variant measured in the same interleaved rounds.
type OverheadScenario struct {
	Network  string            `json:"network"`
	Parallel int               `json:"parallel"`
	Keys     int               `json:"keys"`
	Budgets  bool              `json:"budgets"`
	Variants []OverheadVariant `json:"variants"`
}

// OverheadVariant is one RoundTripper's figures in a scenario: the median
// over rounds of ns per request with its 95% confidence interval, and the
// same for the time added over bare, taken round by round (paired).
type OverheadVariant struct {
	Name        string    `json:"name"`
	NsPerOp     Estimate  `json:"ns_per_op"`
	AddedNs     Estimate  `json:"added_ns"` // over bare, paired by round
	AllocsPerOp float64   `json:"allocs_per_op"`
	BytesPerOp  float64   `json:"bytes_per_op"`
	Samples     []float64 `json:"samples_ns"`
}

// Estimate is a median with the bounds of its 95% confidence interval.
type Estimate struct {
	Median float64 `json:"median"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
}

// GoalCheck is one goal of the overhead issue and whether this run met it.
type GoalCheck struct {
	Goal   string `json:"goal"`
	Figure string `json:"figure"`
	Met    bool   `json:"met"`
}

const overheadUsage = `usage: jonglerbench overhead [flags]

Runs the same request through several RoundTrippers, interleaved in rounds
in one process (each round runs every variant once, in a shuffled order),
and prints for each the median time per request over the rounds with its
95% confidence interval, the time added over a bare transport (the median
of the per-round differences, with its interval), and allocations.

Variants: bare (the base RoundTripper alone), floor (a hand-written
round-robin key rotator: an atomic counter, a request clone and one header),
memory (jongler's Transport with a MemoryStore) and file (with a FileStore
in a new temporary directory).

Networks: none (the base answers from memory: what the RoundTripper itself
costs) and loopback (an httptest server on 127.0.0.1).

`

func overheadCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), overheadUsage)
		fs.PrintDefaults()
	}
	variants := fs.String("variants", "bare,floor,memory,file", "RoundTrippers to compare (bare is always run: it is the baseline)")
	networks := fs.String("net", "none,loopback", "networks: none, loopback")
	parallel := intList{1}
	fs.Var(&parallel, "parallel", "requests in flight at once, comma-separated")
	keys := intList{8}
	fs.Var(&keys, "keys", "numbers of keys, comma-separated")
	budgets := fs.Bool("budgets", false, "configure a budget for the model asked for (too large to bind)")
	rounds := fs.Int("rounds", 20, "rounds: each runs every variant once")
	requests := fs.Int("requests", 2000, "requests per variant per round")
	warmup := fs.Int("warmup", 500, "requests per variant before the first round")
	inflight := fs.Int("inflight", 0, "slots per key (0: enough for -parallel)")
	seed := fs.Uint64("seed", 1, "seed of the variants' order in each round")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := OverheadConfig{
		Variants: splitList(*variants), Networks: splitList(*networks), Parallel: parallel, Keys: keys,
		Budgets: *budgets, Rounds: *rounds, Requests: *requests, Warmup: *warmup, MaxInUse: *inflight, Seed: *seed,
	}
	if !slices.Contains(cfg.Variants, "bare") {
		cfg.Variants = append([]string{"bare"}, cfg.Variants...)
	}
	for _, v := range cfg.Variants {
		if !slices.Contains([]string{"bare", "floor", "memory", "file"}, v) {
			fmt.Fprintf(stderr, "unknown variant %q\n", v)
			return errUsage
		}
	}
	for _, n := range cfg.Networks {
		if n != "none" && n != "loopback" {
			fmt.Fprintf(stderr, "unknown network %q\n", n)
			return errUsage
		}
	}
	if cfg.Rounds < 3 || cfg.Requests < 1 {
		fmt.Fprintln(stderr, "want -rounds ≥ 3 and -requests ≥ 1")
		return errUsage
	}
	progress := stderr
	if *jsonOut {
		progress = io.Discard
	}
	rep, err := runOverhead(context.Background(), cfg, progress)
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(stdout, rep)
	}
	printOverhead(stdout, rep)
	return nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

const (
	overheadConnector = "generativelanguage.googleapis.com"
	overheadModel     = "gemini-2.5-flash"
	overheadPath      = "/v1beta/models/" + overheadModel + ":generateContent"
	overheadAnswer    = `{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}`
)

func runOverhead(ctx context.Context, cfg OverheadConfig, progress io.Writer) (*OverheadReport, error) {
	cfg.Machine, cfg.Started = machine(), time.Now().UTC().Truncate(time.Second)
	rep := &OverheadReport{Benchmark: "overhead", Config: cfg}
	for _, network := range cfg.Networks {
		for _, par := range cfg.Parallel {
			for _, keys := range cfg.Keys {
				sc, err := runScenario(ctx, cfg, network, par, keys)
				if err != nil {
					return nil, err
				}
				rep.Scenarios = append(rep.Scenarios, sc)
				fmt.Fprintf(progress, "done: %s\n", sc.title())
			}
		}
	}
	rep.Goals = overheadGoals(rep)
	return rep, nil
}

func (sc OverheadScenario) title() string {
	net := "no network"
	if sc.Network == "loopback" {
		net = "loopback"
	}
	par := "serial"
	if sc.Parallel > 1 {
		par = fmt.Sprintf("%d at once", sc.Parallel)
	}
	b := ""
	if sc.Budgets {
		b = ", with budgets"
	}
	return fmt.Sprintf("%s, %s, %d keys%s", net, par, sc.Keys, b)
}

// floorRotator is the least a key rotator can do: the next key round
// robin, on a clone of the request.
type floorRotator struct {
	base   http.RoundTripper
	values []string
	next   atomic.Uint64
}

func (f *floorRotator) RoundTrip(req *http.Request) (*http.Response, error) {
	v := f.values[(f.next.Add(1)-1)%uint64(len(f.values))]
	r2 := req.Clone(req.Context())
	r2.Header.Set("x-goog-api-key", v)
	return f.base.RoundTrip(r2)
}

// variant is one RoundTripper under test.
type variant struct {
	name    string
	rt      http.RoundTripper
	close   func()
	samples []float64 // ns per request, one per round
	allocs  []float64
	bytes   []float64
}

func runScenario(ctx context.Context, cfg OverheadConfig, network string, par, nkeys int) (OverheadScenario, error) {
	sc := OverheadScenario{Network: network, Parallel: par, Keys: nkeys, Budgets: cfg.Budgets}
	baseURL := "http://127.0.0.1:9" // never dialled without a network
	newBase := func() (http.RoundTripper, func()) { return canned.Transport{Body: overheadAnswer}, func() {} }
	if network == "loopback" {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write([]byte(overheadAnswer))
		}))
		defer srv.Close()
		baseURL = srv.URL
		newBase = func() (http.RoundTripper, func()) {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = max(128, 2*par)
			return t, t.CloseIdleConnections
		}
	}
	keys := make([]jongler.Key, nkeys)
	values := make([]string, nkeys)
	for i := range keys {
		keys[i] = jongler.Key{Name: fmt.Sprintf("key%04d", i+1), Value: fmt.Sprintf("bench-secret-%d", i+1)}
		values[i] = keys[i].Value
	}
	inflight := cfg.MaxInUse
	if inflight <= 0 {
		inflight = max(1, (par+nkeys-1)/nkeys)
	}
	var vs []*variant
	defer func() {
		for _, v := range vs {
			v.close()
		}
	}()
	for _, name := range cfg.Variants {
		base, closeBase := newBase()
		v := &variant{name: name, close: closeBase}
		vs = append(vs, v)
		opts := []jongler.Option{
			jongler.WithKeys(keys...), jongler.WithBaseURL(baseURL), jongler.WithBaseTransport(base),
			jongler.WithMaxInFlight(inflight),
		}
		if cfg.Budgets {
			opts = append(opts, jongler.WithBudgets(jongler.Budget{Model: overheadModel, PerMinute: 1 << 30, PerDay: 1 << 30}))
		}
		switch name {
		case "bare":
			v.rt = base
		case "floor":
			v.rt = &floorRotator{base: base, values: values}
		case "memory":
			tr, err := jongler.NewTransport(overheadConnector, append(opts, jongler.WithStore(jongler.NewMemoryStore()))...)
			if err != nil {
				return sc, err
			}
			v.rt = tr
			v.close = func() { closeBase(); tr.Close() }
		case "file":
			dir, err := os.MkdirTemp("", "jonglerbench-overhead-")
			if err != nil {
				return sc, err
			}
			tr, err := jongler.NewTransport(overheadConnector, append(opts, jongler.WithStateDir(dir))...)
			if err != nil {
				os.RemoveAll(dir)
				return sc, err
			}
			v.rt = tr
			v.close = func() {
				closeBase()
				tr.Close()
				os.RemoveAll(dir)
			}
		}
	}
	url := baseURL + overheadPath
	for _, v := range vs {
		if _, _, err := block(ctx, v.rt, url, par, cfg.Warmup); err != nil {
			return sc, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(nkeys*1000+par)))
	order := slices.Clone(vs)
	var ms runtime.MemStats
	for range cfg.Rounds {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, v := range order {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			mallocs, bytes := ms.Mallocs, ms.TotalAlloc
			d, n, err := block(ctx, v.rt, url, par, cfg.Requests)
			if err != nil {
				return sc, fmt.Errorf("%s: %w", v.name, err)
			}
			runtime.ReadMemStats(&ms)
			v.samples = append(v.samples, float64(d.Nanoseconds())/float64(n))
			v.allocs = append(v.allocs, float64(ms.Mallocs-mallocs)/float64(n))
			v.bytes = append(v.bytes, float64(ms.TotalAlloc-bytes)/float64(n))
		}
	}
	bare := vs[slices.IndexFunc(vs, func(v *variant) bool { return v.name == "bare" })]
	for _, v := range vs {
		diffs := make([]float64, len(v.samples))
		for i := range diffs {
			diffs[i] = v.samples[i] - bare.samples[i]
		}
		sc.Variants = append(sc.Variants, OverheadVariant{
			Name: v.name, NsPerOp: medianCI(v.samples), AddedNs: medianCI(diffs),
			AllocsPerOp: medianCI(v.allocs).Median, BytesPerOp: medianCI(v.bytes).Median, Samples: v.samples,
		})
	}
	return sc, nil
}

// block sends n requests through rt, par at a time, and returns the wall
// time they took and how many were sent.
func block(ctx context.Context, rt http.RoundTripper, url string, par, n int) (time.Duration, int, error) {
	do := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
		if err != nil {
			return err
		}
		req.Header.Set("x-goog-api-key", "placeholder")
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if par <= 1 {
		start := time.Now()
		for range n {
			if err := do(); err != nil {
				return 0, 0, err
			}
		}
		return time.Since(start), n, nil
	}
	per := max(1, n/par)
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	start := time.Now()
	for range par {
		wg.Go(func() {
			for range per {
				if err := do(); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := first.Load(); err != nil {
		return 0, 0, *err
	}
	return d, per * par, nil
}

// medianCI returns the median of xs with a distribution-free 95%
// confidence interval: the order statistics that a binomial(n, ½) puts
// outside with at most 2.5% on each side, as benchstat does.
func medianCI(xs []float64) Estimate {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return Estimate{}
	}
	var med float64
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	// Largest k with P(Binom(n, ½) < k) ≤ 0.025: the interval is
	// [s[k-1], s[n-k]] (1-based k).
	k, cdf := 0, 0.0
	for j := 0; j <= n; j++ {
		p := math.Exp(lchoose(n, j) - float64(n)*math.Ln2)
		if cdf+p > 0.025 {
			break
		}
		cdf += p
		k = j + 1
	}
	if k == 0 {
		return Estimate{Median: med, Lo: s[0], Hi: s[n-1]}
	}
	return Estimate{Median: med, Lo: s[k-1], Hi: s[n-k]}
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

func findScenario(rep *OverheadReport, network string, par, keys int) *OverheadScenario {
	for i, sc := range rep.Scenarios {
		if sc.Network == network && sc.Parallel == par && sc.Keys == keys {
			return &rep.Scenarios[i]
		}
	}
	return nil
}

func (sc *OverheadScenario) variant(name string) *OverheadVariant {
	for i, v := range sc.Variants {
		if v.Name == name {
			return &sc.Variants[i]
		}
	}
	return nil
}

// overheadGoals checks the goals of the overhead issue that this run's
// scenarios allow.
func overheadGoals(rep *OverheadReport) []GoalCheck {
	var out []GoalCheck
	us := func(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1000) }
	if sc := findScenario(rep, "none", 1, 8); sc != nil && sc.variant("floor") != nil {
		floor := sc.variant("floor")
		for _, g := range []struct {
			store string
			limit float64
		}{{"memory", 2000}, {"file", 8000}} {
			if v := sc.variant(g.store); v != nil {
				d := v.AddedNs.Median - floor.AddedNs.Median
				out = append(out, GoalCheck{
					Goal:   fmt.Sprintf("%s store within %s of the floor (no network, serial, 8 keys)", g.store, us(g.limit)),
					Figure: fmt.Sprintf("%+.1f µs", d/1000), Met: d <= g.limit,
				})
			}
			if v := sc.variant(g.store); v != nil {
				d := v.AllocsPerOp - floor.AllocsPerOp
				out = append(out, GoalCheck{
					Goal:   fmt.Sprintf("%s store allocations within 4 of the floor's (no network, serial, 8 keys)", g.store),
					Figure: fmt.Sprintf("%+.0f", d), Met: d <= 4.5,
				})
			}
		}
	}
	if sc := findScenario(rep, "loopback", 1, 8); sc != nil {
		if v := sc.variant("file"); v != nil {
			out = append(out, GoalCheck{
				Goal: "file store ≤ +15 µs over bare (loopback, serial, 8 keys)", Figure: fmt.Sprintf("%+.1f µs", v.AddedNs.Median/1000),
				Met: v.AddedNs.Median <= 15000,
			})
		}
	}
	for _, network := range rep.Config.Networks {
		for _, par := range rep.Config.Parallel {
			small := findScenario(rep, network, par, 8)
			if small == nil {
				continue
			}
			for _, keys := range rep.Config.Keys {
				if keys <= 8 {
					continue
				}
				big := findScenario(rep, network, par, keys)
				for _, store := range []string{"memory", "file"} {
					a, b := small.variant(store), big.variant(store)
					if a == nil || b == nil {
						continue
					}
					ratio := b.AddedNs.Median / a.AddedNs.Median
					out = append(out, GoalCheck{
						Goal:   fmt.Sprintf("%s store at %d keys within 1.5× of 8 keys (%s)", store, keys, strings.TrimSuffix(big.title(), fmt.Sprintf(", %d keys", keys))),
						Figure: fmt.Sprintf("%.2f× (%s → %s added)", ratio, us(a.AddedNs.Median), us(b.AddedNs.Median)), Met: ratio <= 1.5,
					})
				}
			}
		}
	}
	return out
}

func printOverhead(w io.Writer, rep *OverheadReport) {
	cfg := rep.Config
	fmt.Fprintf(w, "machine: %s\n", cfg.Machine)
	fmt.Fprintf(w, "%d rounds × %d requests per variant, interleaved in a shuffled order; medians with 95%% intervals\n",
		cfg.Rounds, cfg.Requests)
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(w, "\n%s\n", sc.title())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "variant\tper request\t95% interval\tadded over bare\t95% interval\tallocs\tbytes\t")
		for _, v := range sc.Variants {
			added, ci := "", ""
			if v.Name != "bare" {
				added, ci = fmtNs(v.AddedNs.Median, true), "["+fmtNs(v.AddedNs.Lo, true)+", "+fmtNs(v.AddedNs.Hi, true)+"]"
			}
			fmt.Fprintf(tw, "%s\t%s\t[%s, %s]\t%s\t%s\t%.0f\t%.0f\t\n", v.Name, fmtNs(v.NsPerOp.Median, false),
				fmtNs(v.NsPerOp.Lo, false), fmtNs(v.NsPerOp.Hi, false), added, ci, v.AllocsPerOp, v.BytesPerOp)
		}
		tw.Flush()
	}
	if len(rep.Goals) > 0 {
		fmt.Fprintln(w, "\ngoals:")
		for _, g := range rep.Goals {
			fmt.Fprintf(w, "  %s: %s, met: %s\n", g.Goal, g.Figure, yesNo(g.Met))
		}
	}
}

func fmtNs(ns float64, sign bool) string {
	f := "%.2f µs"
	if sign {
		f = "%+.2f µs"
	}
	return fmt.Sprintf(f, ns/1000)
}
