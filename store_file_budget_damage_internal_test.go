//go:build unix

package jongler

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
