// Command jonglerbench measures API Jongler where a Go benchmark cannot:
// leasing across processes sharing one state directory, and the share of
// an upstream's quotas that requests get through, against a simulated
// Gemini API (package jonglertest). BENCHMARKS.md at the root of the
// module records its figures and how they were made.
//
// Usage:
//
//	jonglerbench lease [-procs 1,4,16] [-inflight 1,4] [-keys 8] [-duration 3s] [-hold 0] [-json]
//	jonglerbench quota [-modes policy,budgets,naive] [-minute 250ms] [-windows 12] [-workers 32] [-json]
//	jonglerbench freetier [-requests 90] [-rate 30] [-minute 600ms]
//	jonglerbench overhead [-net none,loopback] [-parallel 1,64] [-keys 8,1000] [-budgets] [-rounds 20] [-requests 2000] [-json]
//
// Run "jonglerbench lease -h" or "jonglerbench quota -h" for every flag.
//
// lease starts each number of worker processes in turn (the command runs
// itself again) on one new state directory; each loops Acquire and Release
// on a jongler.FileStore for the duration, and the command reports leases
// per second, in total and per process. Unless -check=false, a second pass
// has every holder append enter and exit records to a log per key, and
// verifies that no slot was ever held twice.
//
// quota runs the same workload against a fresh jonglertest server for each
// mode: jongler's Transport with its policy ("policy"), the same with
// budgets set to the quotas ("budgets"), and a naive rotator that moves to
// the next key on any 429 and remembers nothing ("naive"). It reports the
// share of the quotas' capacity used, the 429s the upstream sent per
// (project, model, quota-minute window), and request latency.
//
// overhead sends the same request through a bare transport, a hand-written
// round-robin rotator (the floor) and jongler's Transport with each store,
// interleaved in rounds in one process, and reports the median time per
// request with its 95% confidence interval, the time added over bare, and
// allocations.
//
// Each report ends with the goals of the benchmark issue and whether they
// were met. -json prints the report as JSON instead.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

func main() {
	if cfg := os.Getenv(workerEnv); cfg != "" {
		os.Exit(leaseWorkerMain(cfg, os.Stdin, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  jonglerbench lease [flags]   lease+release per second across processes on one state directory
  jonglerbench quota [flags]   quota utilisation against a simulated Gemini API
  jonglerbench overhead [flags] time and allocations added per request, against a bare transport and a round-robin floor
  jonglerbench freetier [flags] a route over three simulated free tiers, against each alone and a fallback-after-429 chain
Run "jonglerbench COMMAND -h" for the flags.
`

// run runs the subcommand named by args[0] and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "lease":
		err = leaseCommand(args[1:], stdout, stderr)
	case "quota":
		err = quotaCommand(args[1:], stdout, stderr)
	case "overhead":
		err = overheadCommand(args[1:], stdout, stderr)
	case "freetier":
		err = freetierCommand(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "jonglerbench: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "jonglerbench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage is returned for bad flags, which the flag set has reported.
var errUsage = errors.New("usage")

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %q\n", fs.Args())
		return errUsage
	}
	return nil
}

// intList is a flag of comma-separated positive integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %s, %s/%s", m.CPUs, m.CPUModel, m.GoVersion, m.OS, m.Arch)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
