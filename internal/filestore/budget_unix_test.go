//go:build unix

package filestore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFullCounterTable: a counter that finds no room in the table (every
// entry it may take holds another name's window that has not ended) is
// answered ErrNoCounterRoom, with one warning however many spends; a read
// (n = 0) of it finds a count of 0, as the caller's fallback expects.
func TestFullCounterTable(t *testing.T) {
	fs, logs := openStore(t, t.TempDir())
	const connector = "generativelanguage.googleapis.com"
	fc, err := fs.connector(connector)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := fc.counterTable()
	if err != nil {
		t.Fatal(err)
	}
	// Every entry a counter of project p's budget for model m may take
	// holds another name's window that has not ended.
	for _, name := range []string{"minute/p/m", "day/p/m"} {
		h := counterHash(name)
		home := int(uint64(h) % counterEntries)
		for p := range counterProbe {
			eh, _, end, _ := tab.entry((home + p) % counterEntries)
			*eh, *end = h^int64(p+1)<<40, math.MaxInt64
		}
	}
	ctx := context.Background()
	c := []Counter{{Name: "minute/p/m", Start: time.Now(), End: time.Now().Add(time.Minute), Limit: 5}}
	for range 3 {
		if _, _, err := fs.SpendBudget(ctx, connector, 1, c); !errors.Is(err, ErrNoCounterRoom) {
			t.Fatalf("a spend in a full table: %v, want ErrNoCounterRoom", err)
		}
	}
	if counts, ok, err := fs.SpendBudget(ctx, connector, 0, c); err != nil || !ok || counts[0] != 0 {
		t.Fatalf("a read in a full table: %v %v %v, want a count of 0", counts, ok, err)
	}
	if n := strings.Count(logs.String(), "cannot take a counter"); n != 1 {
		t.Fatalf("%d warnings that the table is full, want 1:\n%s", n, logs.String())
	}
}

// TestTruncatedCounterTable: a counter table truncated under the mapping
// (touching it would raise SIGBUS) is grown back, its counts lost, and
// spends go on.
func TestTruncatedCounterTable(t *testing.T) {
	dir := t.TempDir()
	fs, err := New(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	c := []Counter{{Name: "minute/p/m", Start: start, End: start.Add(time.Minute), Limit: 5}}
	if counts, ok, err := fs.SpendBudget(ctx, "c", 3, c); err != nil || !ok || counts[0] != 3 {
		t.Fatalf("spend: %v %v %v", counts, ok, err)
	}
	if err := os.Truncate(filepath.Join(dir, "c", "budget.table"), 0); err != nil {
		t.Fatal(err)
	}
	counts, ok, err := fs.SpendBudget(ctx, "c", 1, c)
	if err != nil || !ok || counts[0] != 1 {
		t.Fatalf("spend after truncation: %v %v %v; want the table grown back, counting afresh", counts, ok, err)
	}
}

// TestCounterTableDamagedCountNeverOverspends: a count made negative or
// huge in budget.table (garbage written over it) never lets a spend past
// its limit, and never wraps around.
func TestCounterTableDamagedCountNeverOverspends(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c := []Counter{{Name: "day/p/m", Start: start, End: start.Add(24 * time.Hour), Limit: 3}}
	for _, planted := range []int64{-1000, math.MaxInt64, math.MaxInt64 - 1, math.MinInt64} {
		tab, err := openCounterTable(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := tab.spend(ctx, 1, c); !ok || err != nil {
			t.Fatalf("first spend: %v %v", ok, err)
		}
		e, found := tab.find(counterHash(c[0].Name), start.UnixNano(), nil)
		if !found {
			t.Fatal("counter not found")
		}
		_, _, _, count := tab.entry(e)
		*count = planted
		spent := 0
		for range 10 {
			counts, ok, err := tab.spend(ctx, 1, c)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				spent++
			}
			if counts[0] < 0 {
				t.Errorf("count %d planted: a spend reports count %d", planted, counts[0])
			}
		}
		if spent > c[0].Limit {
			t.Errorf("count %d planted: %d spends went through a limit of %d", planted, spent, c[0].Limit)
		}
		tab.close()
	}
}

// TestUnusableCounterTableInOneProcess: a process that could not open
// budget.table (a passing EMFILE, say) answers ErrNoCounterRoom, blind to
// the table, until its retry time; then it opens the table again and sees
// what another process counted there: the two spend no more than the
// budget.
func TestUnusableCounterTableInOneProcess(t *testing.T) {
	dir := t.TempDir()
	const connector = "generativelanguage.googleapis.com"
	good, _ := openStore(t, dir)
	bad, _ := openStore(t, dir)
	fc, err := bad.connector(connector)
	if err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	fc.countersErr = fmt.Errorf("%w: open budget.table: too many open files", ErrNoCounterRoom)
	fc.countersRetry = time.Now().Add(time.Hour)
	fc.mu.Unlock()
	ctx := context.Background()
	start := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	c := []Counter{{Name: "day/p/m", Start: start, End: start.Add(24 * time.Hour), Limit: 3}}
	if _, _, err := bad.SpendBudget(ctx, connector, 1, c); !errors.Is(err, ErrNoCounterRoom) {
		t.Fatalf("before its retry time: %v, want ErrNoCounterRoom", err)
	}
	fc.mu.Lock()
	fc.countersRetry = time.Time{} // the failure passed
	fc.mu.Unlock()
	for i := range 3 {
		if counts, ok, err := good.SpendBudget(ctx, connector, 1, c); err != nil || !ok || counts[0] != i+1 {
			t.Fatalf("spend %d: %v %v %v", i, counts, ok, err)
		}
	}
	for range 3 {
		if counts, ok, err := bad.SpendBudget(ctx, connector, 1, c); err != nil || ok || counts[0] != 3 {
			t.Fatalf("a spend past a budget of 3 another process spent: %v %v %v; want refused at 3", counts, ok, err)
		}
	}
}

// TestCounterTableSameHomeSlot: names whose entries start at the same slot
// keep their own counts, whichever window each is in, and one name's
// window ending gives its entry to the other without losing either count.
func TestCounterTableSameHomeSlot(t *testing.T) {
	home := func(name string) int { return int(uint64(counterHash(name)) % counterEntries) }
	seen := map[int]string{}
	var a, b string
	for i := 0; b == ""; i++ {
		n := fmt.Sprintf("minute/p%d/m", i)
		if o, ok := seen[home(n)]; ok {
			a, b = o, n
		}
		seen[home(n)] = n
	}
	tab, err := openCounterTable(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tab.close()
	ctx := context.Background()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	spend := func(name string, start time.Time, n, limit int) ([]int, bool) {
		t.Helper()
		counts, ok, err := tab.spend(ctx, n, []Counter{{Name: name, Start: start, End: start.Add(time.Minute), Limit: limit}})
		if err != nil {
			t.Fatal(err)
		}
		return counts, ok
	}
	spend(a, t0, 3, 5)
	spend(b, t0, 4, 5)
	if c, ok := spend(a, t0, 2, 5); !ok || c[0] != 5 {
		t.Fatalf("%s: %v %v, want 5", a, c, ok)
	}
	if c, ok := spend(b, t0, 2, 5); ok || c[0] != 4 {
		t.Fatalf("%s: %v %v, want refused at 4", b, c, ok)
	}
	// a's window ends; b's goes on (its own, a later minute counted anew).
	t1 := t0.Add(time.Minute)
	if c, ok := spend(b, t1, 1, 5); !ok || c[0] != 1 {
		t.Fatalf("%s next minute: %v %v, want 1", b, c, ok)
	}
	if c, ok := spend(a, t1, 0, 5); !ok || c[0] != 0 {
		t.Fatalf("%s next minute: %v %v, want 0", a, c, ok)
	}
	if c, ok := spend(a, t1, 5, 5); !ok || c[0] != 5 {
		t.Fatalf("%s next minute: %v %v, want 5", a, c, ok)
	}
	if c, _ := spend(b, t1, 0, 5); c[0] != 1 {
		t.Fatalf("%s: count %v, want 1", b, c)
	}
}
