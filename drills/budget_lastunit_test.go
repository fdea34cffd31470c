package drills_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

const (
	xbRoleEnv = "JONGLER_TEST_XBUDGET_DIR" // set in a child: the state directory
	xbNames   = 40
)

// xbCounter is the counter of round i: its last unit is left for the
// children to race for.
func xbCounter(i int) jongler.BudgetCounter {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	return jongler.BudgetCounter{Name: fmt.Sprintf("minute/p%d/m", i), Start: start, End: start.Add(time.Minute), Limit: 5}
}

// TestBudgetLastUnitAcrossProcesses: processes sharing a state directory
// race for the last unit of 40 budgets, all at once; each budget's last
// unit goes to exactly one of them.
func TestBudgetLastUnitAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	s, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for i := range xbNames {
		c := xbCounter(i)
		if _, ok, err := s.SpendBudget(ctx, "c", c.Limit-1, []jongler.BudgetCounter{c}); err != nil || !ok {
			t.Fatalf("spending all but one unit: %v %v", ok, err)
		}
	}
	const children = 4
	type child struct {
		cmd *exec.Cmd
		out *bufio.Scanner
		in  interface{ Write([]byte) (int, error) }
	}
	var kids []child
	for range children {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBudgetLastUnitChild$", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), xbRoleEnv+"="+dir)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, child{cmd, bufio.NewScanner(out), in})
	}
	// Each child says "ready" once its store is open; then all go at once.
	for _, k := range kids {
		if !k.out.Scan() || k.out.Text() != "ready" {
			t.Fatalf("a child did not get ready: %q", k.out.Text())
		}
	}
	for _, k := range kids {
		fmt.Fprintln(k.in, "go")
	}
	won := map[string]int{}
	for _, k := range kids {
		for k.out.Scan() {
			if name, ok := strings.CutPrefix(k.out.Text(), "won "); ok {
				won[name]++
			}
		}
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	for i := range xbNames {
		c := xbCounter(i)
		if won[c.Name] != 1 {
			t.Errorf("%s: the last unit went to %d processes, want exactly 1", c.Name, won[c.Name])
		}
		counts, _, err := s.SpendBudget(ctx, "c", 0, []jongler.BudgetCounter{c})
		if err != nil || counts[0] != c.Limit {
			t.Errorf("%s counts %v (%v), want %d", c.Name, counts, err, c.Limit)
		}
	}
}

// TestBudgetLastUnitChild is a child of TestBudgetLastUnitAcrossProcesses.
func TestBudgetLastUnitChild(t *testing.T) {
	dir := os.Getenv(xbRoleEnv)
	if dir == "" {
		t.Skip("child process of TestBudgetLastUnitAcrossProcesses")
	}
	s, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Open the table before the race.
	if _, _, err := s.SpendBudget(context.Background(), "c", 0, []jongler.BudgetCounter{xbCounter(0)}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); line != "go\n" {
		t.Fatalf("no go: %q", line)
	}
	for i := range xbNames {
		c := xbCounter(i)
		_, ok, err := s.SpendBudget(context.Background(), "c", 1, []jongler.BudgetCounter{c})
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fmt.Println("won " + c.Name)
		}
	}
}
