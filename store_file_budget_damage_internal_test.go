//go:build unix

package jongler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// TestCounterTableDamagedCountNeverOverspends: a count made negative or
// huge in budget.table (garbage written over it) never lets a spend past
// its limit, and never wraps around.
func TestCounterTableDamagedCountNeverOverspends(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c := []BudgetCounter{{Name: "day/p/m", Start: start, End: start.Add(24 * time.Hour), Limit: 3}}
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
// budget.table (a passing EMFILE, say) counts in state.json, blind to the
// table, but opens it again once the failure passed (its retry time, zero
// here, is past): with another process counting in the table, the two
// spend no more than the budget.
func TestUnusableCounterTableInOneProcess(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	const connector = "generativelanguage.googleapis.com"
	transport := func(fs *FileStore) *Transport {
		tr, err := NewTransport(connector, WithKeys(Key{Name: "k", Value: "v-k-7731", Project: "p"}), WithStore(fs),
			WithBaseURL(srv.URL), WithClock(stillClock{time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}), WithMaxWait(-1),
			WithBudgets(Budget{Model: "m", PerDay: 3}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	good, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	fc, err := bad.connector(connector)
	if err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	fc.countersErr = fmt.Errorf("%w: open budget.table: too many open files", errNoCounterRoom)
	fc.mu.Unlock()
	send := func(tr *Transport) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	tg, tb := transport(good), transport(bad)
	for range 3 {
		send(tg)
	}
	for range 3 {
		send(tb)
	}
	if n := served.Load(); n > 3 {
		t.Fatalf("%d requests served on a budget of 3 a day", n)
	}
}

// TestCountsLostAfterBudgetFoundSpent: counts lost after this process found
// a budget spent (budget.table truncated, a Redis restarted empty) leave
// the process's mark and the store's counts at odds; a request then gets
// an answer at once (served, or told the budget is spent), never a loop
// of leases until its deadline.
func TestCountsLostAfterBudgetFoundSpent(t *testing.T) {
	tr, dir := budgetOfOne(t, Key{Name: "k", Value: "v-k-7731", Project: "p"})
	send := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tr.BaseURL()+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	var nk *NoKeyError
	if err := send(); !errors.As(err, &nk) {
		t.Fatalf("second request: %v, want a NoKeyError (budget of 1 spent)", err)
	}
	if err := os.Truncate(filepath.Join(dir, budgetConnector, "budget.table"), 0); err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil && !errors.As(err, &nk) {
		t.Fatalf("after the counts were lost: %v; want an answer or a NoKeyError at once", err)
	}
}

// TestCountsLostAfterBudgetFoundSpentRetry is the same, for a request
// retried after another key was refused: its lease looks at the store's
// counts, which no longer say the budget is spent, while the process's
// mark still does.
func TestCountsLostAfterBudgetFoundSpentRetry(t *testing.T) {
	tr, dir := budgetOfOne(t, Key{Name: "k1", Value: "v-k1-7731", Project: "p"}, Key{Name: "k2", Value: "v-k2-7731", Project: "q"})
	r := tr.ring
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// p's and q's budgets spent (k1, then k2, the least recently used),
	// and p's found spent by this process: k1, least recently used, is
	// leased and its spend refused.
	later := []tried{{name: "k2", until: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}}
	for i, refused := range [][]tried{later, nil, nil} {
		l, err := r.lease(ctx, "m", refused)
		if i < 2 {
			if err != nil || l.key.Name != []string{"k1", "k2"}[i] {
				t.Fatalf("lease %d: %v %v", i, l, err)
			}
			l.release()
			continue
		}
		var nk *NoKeyError
		if !errors.As(err, &nk) {
			t.Fatalf("lease %d: %v, want a NoKeyError", i, err)
		}
	}
	if ok, _ := r.book.Blocked(&state.State{}, nil, "p", "m", time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)); !ok {
		t.Fatal("p's budget not found spent by this process")
	}
	if err := os.Truncate(filepath.Join(dir, budgetConnector, "budget.table"), 0); err != nil {
		t.Fatal(err)
	}
	before := r.releases.Load()
	l, err := r.lease(ctx, "m", later)
	if l != nil {
		l.release()
	}
	var nk *NoKeyError
	if err != nil && !errors.As(err, &nk) {
		t.Fatalf("after the counts were lost: %v, after %d leases taken and given back; want an answer at once", err, r.releases.Load()-before)
	}
}

const budgetConnector = "generativelanguage.googleapis.com"

// budgetOfOne returns a transport with keys, on a FileStore in the
// returned directory, whose clock stands still at 09:00:30 and whose
// model "m" has a budget of one request a minute, sending to a server
// that answers {} to all.
func budgetOfOne(t *testing.T, keys ...Key) (*Transport, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	fs, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	tr, err := NewTransport(budgetConnector, WithKeys(keys...), WithStore(fs),
		WithBaseURL(srv.URL), WithClock(stillClock{time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}), WithMaxWait(-1),
		WithBudgets(Budget{Model: "m", PerMinute: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr, dir
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
		counts, ok, err := tab.spend(ctx, n, []BudgetCounter{{Name: name, Start: start, End: start.Add(time.Minute), Limit: limit}})
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
