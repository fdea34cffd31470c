package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/api-jongler/jongler"
)

// workerEnv carries a worker's configuration, as JSON, to a worker
// process: the command runs itself again with it set.
const workerEnv = "JONGLERBENCH_LEASE_WORKER"

// leaseConnector is the connector name the workers lease keys of.
const leaseConnector = "jonglerbench"

// LeaseConfig is the lease benchmark's configuration.
type LeaseConfig struct {
	Procs     []int         `json:"procs"`
	InFlight  []int         `json:"inflight"`
	Keys      int           `json:"keys"`
	Duration  time.Duration `json:"duration_ns"`
	Hold      time.Duration `json:"hold_ns"`
	Check     bool          `json:"check"`
	CheckHold time.Duration `json:"check_hold_ns"`
	CheckTime time.Duration `json:"check_duration_ns"`
}

// LeaseRun is the outcome of one (processes, in-flight limit) run.
type LeaseRun struct {
	Procs    int `json:"procs"`
	InFlight int `json:"inflight"`
	// Leases is the number of Acquire+Release pairs of all processes.
	Leases int64 `json:"leases"`
	// Misses counts Acquire calls that found every slot held.
	Misses int64 `json:"misses"`
	// PerSecond is the sum over processes of leases/elapsed.
	PerSecond float64 `json:"leases_per_second"`
	// PerProcess is PerSecond / Procs; Min and Max are the extremes.
	PerProcess    float64 `json:"per_process"`
	PerProcessMin float64 `json:"per_process_min"`
	PerProcessMax float64 `json:"per_process_max"`
	// MicrosPerLease is the wall time per lease of the processes together.
	MicrosPerLease float64 `json:"us_per_lease"`
}

// LeaseCheck is the outcome of a checked run: every holder logged entry
// and exit per key, and the logs were replayed.
type LeaseCheck struct {
	Procs    int   `json:"procs"`
	InFlight int   `json:"inflight"`
	Leases   int64 `json:"leases"`
	// MaxHeld is the most holders of one key at once seen in the logs.
	MaxHeld int `json:"max_held"`
	// Violations counts log records showing more than InFlight holders of
	// a key at once, or an exit without its entry.
	Violations int    `json:"violations"`
	FirstIssue string `json:"first_issue,omitempty"`
}

// LeaseReport is what "jonglerbench lease" reports.
type LeaseReport struct {
	Benchmark string       `json:"benchmark"`
	Machine   Machine      `json:"machine"`
	Config    LeaseConfig  `json:"config"`
	Runs      []LeaseRun   `json:"runs"`
	Checks    []LeaseCheck `json:"checks,omitempty"`
	// Exclusive is true when every check found no slot held twice.
	Exclusive bool `json:"exclusive"`
}

func leaseCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jonglerbench lease", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := LeaseConfig{Procs: intList{1, 4, 16}, InFlight: intList{1, 4}}
	procs, inflight := intList(cfg.Procs), intList(cfg.InFlight)
	fs.Var(&procs, "procs", "numbers of worker processes, one run each")
	fs.Var(&inflight, "inflight", "in-flight limits per key (slots), one run each")
	fs.IntVar(&cfg.Keys, "keys", 8, "keys in the pool")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "length of each run")
	fs.DurationVar(&cfg.Hold, "hold", 0, "how long a worker holds each lease, sleeping (0: release at once)")
	fs.BoolVar(&cfg.Check, "check", true, "after the runs, verify with per-key logs that no slot is ever held twice")
	fs.DurationVar(&cfg.CheckHold, "check-hold", 100*time.Microsecond, "how long a worker holds each lease, sleeping, in the checked runs")
	fs.DurationVar(&cfg.CheckTime, "check-duration", 2*time.Second, "length of each checked run")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: jonglerbench lease [flags]\n\n"+
			"Starts N worker processes (for each N of -procs) on one new state directory; each\n"+
			"loops Acquire/Release of a jongler.FileStore for -duration. Reports leases per second.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Procs, cfg.InFlight = procs, inflight
	if cfg.Keys <= 0 || cfg.Duration <= 0 {
		return errors.New("-keys and -duration must be positive")
	}
	rep, err := runLease(context.Background(), cfg, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	printLease(stdout, rep)
	return nil
}

func runLease(ctx context.Context, cfg LeaseConfig, progress io.Writer) (*LeaseReport, error) {
	rep := &LeaseReport{Benchmark: "lease", Machine: machine(), Config: cfg, Exclusive: true}
	for _, inflight := range cfg.InFlight {
		for _, procs := range cfg.Procs {
			fmt.Fprintf(progress, "lease: %d process(es), in-flight %d, %v...\n", procs, inflight, cfg.Duration)
			results, err := leaseRun(ctx, procs, workerConfig{Keys: cfg.Keys, InFlight: inflight, Duration: cfg.Duration, Hold: cfg.Hold})
			if err != nil {
				return nil, err
			}
			rep.Runs = append(rep.Runs, summarize(procs, inflight, results))
		}
	}
	if !cfg.Check {
		return rep, nil
	}
	procs := slices.Max(cfg.Procs)
	for _, inflight := range cfg.InFlight {
		fmt.Fprintf(progress, "lease: checking exclusivity, %d process(es), in-flight %d, %v...\n", procs, inflight, cfg.CheckTime)
		logDir, err := os.MkdirTemp("", "jonglerbench-log-")
		if err != nil {
			return nil, err
		}
		results, err := leaseRun(ctx, procs, workerConfig{Keys: cfg.Keys, InFlight: inflight, Duration: cfg.CheckTime, Hold: cfg.CheckHold, LogDir: logDir})
		if err == nil {
			var c LeaseCheck
			c, err = checkLogs(logDir, cfg.Keys, inflight)
			c.Procs = procs
			for _, r := range results {
				c.Leases += r.Leases
			}
			rep.Checks = append(rep.Checks, c)
			if c.Violations > 0 {
				rep.Exclusive = false
			}
		}
		os.RemoveAll(logDir)
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func summarize(procs, inflight int, results []workerResult) LeaseRun {
	r := LeaseRun{Procs: procs, InFlight: inflight}
	for i, w := range results {
		r.Leases += w.Leases
		r.Misses += w.Misses
		rate := float64(w.Leases) / w.Elapsed.Seconds()
		r.PerSecond += rate
		if i == 0 || rate < r.PerProcessMin {
			r.PerProcessMin = rate
		}
		if rate > r.PerProcessMax {
			r.PerProcessMax = rate
		}
	}
	r.PerProcess = r.PerSecond / float64(procs)
	if r.PerSecond > 0 {
		r.MicrosPerLease = 1e6 / r.PerSecond
	}
	return r
}

func printLease(w io.Writer, rep *LeaseReport) {
	fmt.Fprintf(w, "Leasing across processes: jongler.FileStore, %d keys, one state directory\n", rep.Config.Keys)
	fmt.Fprintf(w, "machine: %s\n", rep.Machine)
	fmt.Fprintf(w, "each run %v; a lease is held %v\n\n", rep.Config.Duration, rep.Config.Hold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "in-flight\tprocesses\tleases/s\tper process\tmin–max per process\tµs per lease\tmisses\t")
	for _, r := range rep.Runs {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f–%.0f\t%.2f\t%d\t\n", r.InFlight, r.Procs, r.PerSecond, r.PerProcess,
			r.PerProcessMin, r.PerProcessMax, r.MicrosPerLease, r.Misses)
	}
	tw.Flush()
	if len(rep.Checks) > 0 {
		fmt.Fprintf(w, "\nexclusivity (per-key logs of entries and exits, a lease held %v, %v per run):\n", rep.Config.CheckHold, rep.Config.CheckTime)
		for _, c := range rep.Checks {
			fmt.Fprintf(w, "  %d processes, in-flight %d: %d leases, at most %d holders of a key at once, %d violations\n",
				c.Procs, c.InFlight, c.Leases, c.MaxHeld, c.Violations)
			if c.FirstIssue != "" {
				fmt.Fprintf(w, "    first: %s\n", c.FirstIssue)
			}
		}
		fmt.Fprintf(w, "no slot held twice: %s\n", yesNo(rep.Exclusive))
	}
}

// workerConfig is one worker process's task.
type workerConfig struct {
	Dir      string        `json:"dir"`
	Keys     int           `json:"keys"`
	InFlight int           `json:"inflight"`
	Duration time.Duration `json:"duration"`
	Hold     time.Duration `json:"hold"`
	LogDir   string        `json:"log_dir,omitempty"`
	ID       int           `json:"id"`
}

// workerResult is what a worker prints when done.
type workerResult struct {
	ID      int           `json:"id"`
	Leases  int64         `json:"leases"`
	Misses  int64         `json:"misses"`
	Elapsed time.Duration `json:"elapsed"`
	Err     string        `json:"err,omitempty"`
}

// leaseRun starts procs workers on a new state directory, starts them at
// once when all are ready, and collects their results.
func leaseRun(ctx context.Context, procs int, wc workerConfig) ([]workerResult, error) {
	dir, err := os.MkdirTemp("", "jonglerbench-state-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	wc.Dir = dir
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr bytes.Buffer
	}
	ps := make([]*proc, procs)
	defer func() {
		for _, p := range ps {
			if p != nil && p.cmd.Process != nil && p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()
	for i := range ps {
		wc.ID = i
		data, _ := json.Marshal(wc)
		p := &proc{cmd: exec.CommandContext(ctx, exe)}
		p.cmd.Env = append(os.Environ(), workerEnv+"="+string(data))
		p.cmd.Stderr = &p.stderr
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		p.stdout = bufio.NewReader(out)
		if err := p.cmd.Start(); err != nil {
			return nil, err
		}
		ps[i] = p
	}
	for i, p := range ps {
		line, err := p.stdout.ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			return nil, fmt.Errorf("worker %d did not start (%q, %v): %s", i, line, err, p.stderr.String())
		}
	}
	for _, p := range ps {
		io.WriteString(p.stdin, "go\n")
	}
	results := make([]workerResult, procs)
	for i, p := range ps {
		data, err := io.ReadAll(p.stdout)
		werr := p.cmd.Wait()
		if err != nil || werr != nil {
			return nil, fmt.Errorf("worker %d: %v %v: %s", i, err, werr, p.stderr.String())
		}
		if err := json.Unmarshal(data, &results[i]); err != nil {
			return nil, fmt.Errorf("worker %d: result %q: %v", i, data, err)
		}
		if results[i].Err != "" {
			return nil, fmt.Errorf("worker %d: %s", i, results[i].Err)
		}
	}
	return results, nil
}

// leaseWorkerMain is a worker process: it opens the store, says "ready",
// waits for "go" on stdin, loops Acquire and Release for the duration,
// and prints its result as JSON.
func leaseWorkerMain(cfgJSON string, stdin io.Reader, stdout io.Writer) int {
	var wc workerConfig
	res := workerResult{}
	defer func() { json.NewEncoder(stdout).Encode(res) }()
	if err := json.Unmarshal([]byte(cfgJSON), &wc); err != nil {
		res.Err = err.Error()
		return 1
	}
	res.ID = wc.ID
	if err := leaseWorker(wc, stdin, stdout, &res); err != nil {
		res.Err = err.Error()
		return 1
	}
	return 0
}

func leaseWorker(wc workerConfig, stdin io.Reader, stdout io.Writer, res *workerResult) error {
	ctx := context.Background()
	store, err := jongler.NewFileStore(wc.Dir, nil)
	if err != nil {
		return err
	}
	keys := make([]string, wc.Keys)
	logs := map[string]*os.File{}
	for i := range keys {
		keys[i] = "key" + strconv.Itoa(i+1)
		if wc.LogDir != "" {
			f, err := os.OpenFile(filepath.Join(wc.LogDir, keys[i]+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			logs[keys[i]] = f
		}
	}
	// One lease before the start makes the files, the use table and the
	// store's caches, as any long-running process has them.
	if l, err := store.Acquire(ctx, leaseConnector, keys, wc.InFlight); err != nil {
		return err
	} else if l != nil {
		l.Release(ctx)
	}
	fmt.Fprintln(stdout, "ready")
	if line, err := bufio.NewReader(stdin).ReadString('\n'); err != nil || strings.TrimSpace(line) != "go" {
		return fmt.Errorf("waiting for go: %q %v", line, err)
	}
	pid := os.Getpid()
	var seq int64
	// A miss waits as the transport does when every slot is held: from 1ms
	// with jitter, doubling up to 20ms.
	poll := time.Millisecond
	start := time.Now()
	deadline := start.Add(wc.Duration)
	for time.Now().Before(deadline) {
		l, err := store.Acquire(ctx, leaseConnector, keys, wc.InFlight)
		if err != nil {
			return err
		}
		if l == nil {
			res.Misses++
			time.Sleep(poll + rand.N(poll))
			poll = min(poll*2, 20*time.Millisecond)
			continue
		}
		poll = time.Millisecond
		seq++
		f := logs[l.Key()]
		if f != nil {
			if err := logRecord(f, 'E', pid, seq); err != nil {
				return err
			}
		}
		if wc.Hold > 0 {
			time.Sleep(wc.Hold) // as a request waiting for its answer
		}
		if f != nil {
			if err := logRecord(f, 'X', pid, seq); err != nil {
				return err
			}
		}
		if err := l.Release(context.Background()); err != nil {
			return err
		}
		res.Leases++
	}
	res.Elapsed = time.Since(start)
	return nil
}

// logRecord appends one fixed-size record, "E pid seq\n" at a lease's
// start or "X pid seq\n" at its end, in one write to a file opened with
// O_APPEND: the kernel places each write whole at the end of the file.
func logRecord(f *os.File, kind byte, pid int, seq int64) error {
	_, err := fmt.Fprintf(f, "%c %010d %016d\n", kind, pid, seq)
	return err
}

// checkLogs replays each key's log: at no point may more than inflight
// leases be open, and every exit must close an open entry.
func checkLogs(dir string, keys, inflight int) (LeaseCheck, error) {
	c := LeaseCheck{InFlight: inflight}
	issue := func(format string, a ...any) {
		c.Violations++
		if c.FirstIssue == "" {
			c.FirstIssue = fmt.Sprintf(format, a...)
		}
	}
	for i := range keys {
		key := "key" + strconv.Itoa(i+1)
		f, err := os.Open(filepath.Join(dir, key+".log"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return c, err
		}
		open := map[string]bool{}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			kind, who, ok := strings.Cut(sc.Text(), " ")
			if !ok || (kind != "E" && kind != "X") {
				f.Close()
				return c, fmt.Errorf("%s.log:%d: bad record %q", key, line, sc.Text())
			}
			if kind == "E" {
				open[who] = true
				c.MaxHeld = max(c.MaxHeld, len(open))
				if len(open) > inflight {
					issue("%s.log:%d: %d holders at once, limit %d", key, line, len(open), inflight)
				}
				continue
			}
			if !open[who] {
				issue("%s.log:%d: exit of %s without its entry", key, line, who)
			}
			delete(open, who)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return c, err
		}
		if len(open) > 0 {
			issue("%s.log: %d leases never ended", key, len(open))
		}
	}
	return c, nil
}
