// Command proxybench measures `apijongler serve` beside a bare
// httputil.ReverseProxy, in one interleaved run, each front in a process
// of its own and the load from another:
//
//   - the fronts: the bare proxy (its upstream transport keeping 1,024
//     idle connections per host), and the real `apijongler serve` (built
//     from this module, or -apijongler), as an operator runs it: a token,
//     its access log on standard error, its metrics, one request per key
//     at once, with the memory store (--store memory:) and with the file
//     store, at each of -keys keys; --max-conns-per-client 0, as every
//     load comes from one address;
//
//   - the upstream, in this process: a zero-latency Gemini-like API that
//     counts the connections it accepts;
//
//   - the load: a process (this program, -role load) sending requests
//     back to back from each of -conns connections, for -warmup then
//     -duration;
//
//   - rounds: each of -rounds rounds loads every front in turn, at each
//     count of connections, so that a burst of other work on the machine
//     hits them alike; a front's figure in a round is set against the
//     bare proxy's in the same round;
//
//   - reported, each as the median of the rounds and, in parentheses, the
//     lowest and highest round (with 5 rounds, an interval holding the
//     median with probability 94% or more): requests per second and p99
//     latency as ratios to the bare proxy's, the front process's own CPU
//     time per request (from /proc), and the new upstream connections per
//     request (accepted by the upstream while measured);
//
//   - first, with -idle N, N idle server-sent-event streams and N idle
//     keep-alive connections held open through each front, before any
//     load: its resident memory and file descriptors per stream and per
//     connection.
//
//     go run ./cmd/proxybench [-conns 1,8,64,256] [-keys 8,1000] [-rounds 5] [-duration 2s] [-idle 1000]
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

var (
	role     = flag.String("role", "", "internal: what this process is (load, idle-streams, idle-conns, bare)")
	target   = flag.String("url", "", "internal: the front (load) or the upstream (bare)")
	clients  = flag.Int("c", 1, "internal: connections of a load, or idle ones")
	warmup   = flag.Duration("warmup", 500*time.Millisecond, "load before measuring, each time a front is loaded")
	duration = flag.Duration("duration", 2*time.Second, "measured load, each time a front is loaded")
	connsArg = flag.String("conns", "1,8,64,256", "counts of concurrent connections, comma-separated")
	keysArg  = flag.String("keys", "8,1000", "counts of keys of serve, comma-separated")
	storeArg = flag.String("stores", "memory,file", "serve's stores, comma-separated: memory, file")
	rounds   = flag.Int("rounds", 5, "interleaved rounds")
	idleN    = flag.Int("idle", 1000, "idle streams and idle connections held open through each front (0: none)")
	bin      = flag.String("apijongler", "", "the apijongler binary to run (default: built from this module)")
	compare  = flag.String("compare", "", "another apijongler binary (a build before a change) to run beside it, each of its fronts named with \"(before)\"")
)

func main() {
	log.SetFlags(0)
	flag.Parse()
	var err error
	switch *role {
	case "":
		err = run()
	case "load":
		err = runLoad(os.Stdout, *target, *clients, *warmup, *duration)
	case "idle-streams", "idle-conns":
		err = runIdle(os.Stdout, os.Stdin, *target, *clients, *role == "idle-streams")
	case "bare":
		err = runBare(*target)
	default:
		err = fmt.Errorf("-role %q: unknown", *role)
	}
	if err != nil {
		log.Fatalf("proxybench: %v", err)
	}
}

func run() error {
	conns, err := ints("-conns", *connsArg)
	if err != nil {
		return err
	}
	keys, err := ints("-keys", *keysArg)
	if err != nil {
		return err
	}
	stores := strings.Split(*storeArg, ",")
	for _, s := range stores {
		if s != "memory" && s != "file" {
			return fmt.Errorf("-stores: %q: want memory or file", s)
		}
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want 1 or more", *rounds)
	}
	work, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	path := *bin
	if path == "" {
		path = filepath.Join(work, "apijongler")
		build := exec.Command("go", "build", "-o", path, "github.com/api-jongler/jongler/cmd/apijongler")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building apijongler: %w (or give -apijongler)", err)
		}
	}

	fmt.Printf("proxybench: %s connections, %s keys, %d rounds of %s (after %s) per front; %d CPUs, %s\n",
		*connsArg, *keysArg, *rounds, *duration, *warmup, runtime.NumCPU(), runtime.Version())
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", l)
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.close()
	bare, err := startBare(up.URL)
	if err != nil {
		return err
	}
	fronts := []*front{bare}
	defer func() {
		for _, f := range fronts {
			f.stop()
		}
	}()
	for _, k := range keys {
		for _, s := range stores {
			f, err := startServe(path, up.URL, work, k, s)
			if err != nil {
				return err
			}
			fronts = append(fronts, f)
			if *compare != "" {
				f, err := startServe(*compare, up.URL, work, k, s)
				if err != nil {
					return err
				}
				f.name += " (before)"
				fronts = append(fronts, f)
			}
		}
	}

	if *idleN > 0 {
		// First, while no front has grown its heap under load.
		fmt.Printf("\n%d idle streams, then %d idle keep-alive connections, held open through each front: its resident memory and file descriptors per stream or connection\n\n", *idleN, *idleN)
		fmt.Printf("| front | memory per stream | fds per stream | memory per connection | fds per connection |\n| --- | ---: | ---: | ---: | ---: |\n")
		for _, f := range fronts {
			perStream, fdsStream := "– (fewer keys)", "–"
			if f.keys == 0 || f.keys >= *idleN {
				// A stream holds its key: serve holds as many at once as
				// it has keys.
				s, err := idle(f, "idle-streams")
				if err != nil {
					return err
				}
				perStream, fdsStream = fmt.Sprintf("%.1f KiB", s.mem/1024), fmt.Sprintf("%.2f", s.fds)
			}
			c, err := idle(f, "idle-conns")
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %s | %s | %.1f KiB | %.2f |\n", f.name, perStream, fdsStream, c.mem/1024, c.fds)
		}
	}
	var rows []row
	for _, c := range conns {
		r := row{conns: c, samples: make([][]sample, len(fronts))}
		for i := range *rounds {
			// Each round begins with another front, so that none is always
			// loaded right after the same one.
			for j := range fronts {
				k := (i + j) % len(fronts)
				s, err := measure(fronts[k], c, up)
				if err != nil {
					return err
				}
				r.samples[k] = append(r.samples[k], s)
			}
		}
		rows = append(rows, r)
		fmt.Printf("  %d connections done\n", c)
	}
	report(os.Stdout, fronts, rows)

	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("\nload average after: %s", l)
	}
	return nil
}

// ints parses a comma-separated list of positive counts.
func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q: want positive counts, comma-separated", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// sample is one front's figures in one round.
type sample struct {
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // the front's CPU time per request; -1: unknown
	newConns float64       // upstream connections accepted per request
	errors   int64
}

// row is the samples of every front, by round, at one count of
// connections.
type row struct {
	conns   int
	samples [][]sample // by front, then round
}

// measure loads f from conns connections in a child process and returns
// what its measured span shows.
func measure(f *front, conns int, up *upstream) (sample, error) {
	c, err := startChild(loadArgs(f.url, conns, *warmup, *duration)...)
	if err != nil {
		return sample{}, err
	}
	if err := c.expect(measuringLine); err != nil {
		return sample{}, fmt.Errorf("%s: %w", f.name, err)
	}
	cpu0, okCPU := procCPU(f.cmd.Process.Pid)
	acc0 := up.accepted()
	r, err := c.result()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", f.name, err)
	}
	cpu1, _ := procCPU(f.cmd.Process.Pid)
	acc1 := up.accepted()
	s := sample{rps: float64(r.Requests) / r.Seconds, p50: r.P50, p99: r.P99, cpu: -1, errors: r.Errors,
		newConns: float64(acc1-acc0) / float64(r.Requests)}
	if okCPU {
		s.cpu = (cpu1 - cpu0) / time.Duration(r.Requests)
	}
	return s, nil
}

type idleFigures struct{ mem, fds float64 }

// idle holds -idle streams or connections open through f from a child
// process, and returns f's growth in memory and descriptors per one.
func idle(f *front, kind string) (idleFigures, error) {
	rss0, fds0, ok := procMem(f.cmd.Process.Pid)
	if !ok {
		return idleFigures{}, fmt.Errorf("%s: /proc cannot be read: no memory figures here (run with -idle 0)", f.name)
	}
	c, err := startChild("-role", kind, "-url", f.url, "-c", strconv.Itoa(*idleN))
	if err != nil {
		return idleFigures{}, err
	}
	if err := c.expect(openLine); err != nil {
		return idleFigures{}, fmt.Errorf("%s: %w", f.name, err)
	}
	time.Sleep(200 * time.Millisecond) // the front's last handlers settle
	rss1, fds1, _ := procMem(f.cmd.Process.Pid)
	if err := c.wait(); err != nil {
		return idleFigures{}, fmt.Errorf("%s: %w", f.name, err)
	}
	time.Sleep(500 * time.Millisecond) // the connections close
	n := float64(*idleN)
	return idleFigures{mem: float64(rss1-rss0) / n, fds: float64(fds1-fds0) / n}, nil
}
