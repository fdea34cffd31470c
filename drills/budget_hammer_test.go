package drills_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

const xhRoleEnv = "JONGLER_TEST_XHAMMER_DIR" // set in a child: the state directory

// xhPairs are budgets of two counters each, spent all at once: the day's
// binds in some, the minute's in others.
func xhPairs() [][]jongler.BudgetCounter {
	day := time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)
	min := time.Date(2026, 3, 9, 9, 30, 0, 0, time.UTC)
	var out [][]jongler.BudgetCounter
	for i, l := range [][2]int{{37, 1000}, {1000, 53}, {61, 61}, {0, 29}} {
		out = append(out, []jongler.BudgetCounter{
			{Name: fmt.Sprintf("day/h%d/m", i), Start: day, End: day.Add(24 * time.Hour), Limit: l[0]},
			{Name: fmt.Sprintf("minute/h%d/m", i), Start: min, End: min.Add(time.Minute), Limit: l[1]},
		})
	}
	return out
}

// TestBudgetPairsHammeredAcrossProcesses: processes spending two-counter
// budgets as fast as they can, all at once, get exactly the lower limit
// of each, and both counters of a pair end equal (all or nothing).
func TestBudgetPairsHammeredAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	const children = 4
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range children {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBudgetPairsHammerChild$", "-test.count=1", "-test.timeout=120s")
		cmd.Env = append(os.Environ(), xhRoleEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out := &strings.Builder{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	pairs := xhPairs()
	got := make([]int, len(pairs))
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v\n%s", err, outs[i])
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			var p, n int
			if _, err := fmt.Sscanf(line, "pair %d spent %d", &p, &n); err == nil {
				got[p] += n
			}
		}
	}
	s, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, cs := range pairs {
		want := cs[1].Limit
		if cs[0].Limit > 0 && cs[0].Limit < want {
			want = cs[0].Limit
		}
		counts, _, err := s.SpendBudget(t.Context(), "c", 0, cs)
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want || counts[0] != want || counts[1] != want {
			t.Errorf("pair %d (limits %d, %d): %d spends went through, counters at %v; want %d", i, cs[0].Limit, cs[1].Limit, got[i], counts, want)
		}
	}
}

// TestBudgetPairsHammerChild is a child of the test above.
func TestBudgetPairsHammerChild(t *testing.T) {
	dir := os.Getenv(xhRoleEnv)
	if dir == "" {
		t.Skip("a child of TestBudgetPairsHammeredAcrossProcesses")
	}
	s, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, cs := range xhPairs() {
		spent := 0
		for range 1200 {
			_, ok, err := s.SpendBudget(t.Context(), "c", 1, cs)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				spent++
			}
		}
		fmt.Println("pair " + strconv.Itoa(i) + " spent " + strconv.Itoa(spent))
	}
}
