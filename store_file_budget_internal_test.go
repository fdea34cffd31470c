//go:build unix

package jongler

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
	"github.com/api-jongler/jongler/internal/state"
)

// stillClock is a clock that does not move.
type stillClock struct{ now time.Time }

func (c stillClock) Now() time.Time { return c.now }
func (c stillClock) Sleep(ctx context.Context, d time.Duration) error {
	return ctx.Err()
}

// TestUnusableCounterTableCountsInState: when the file store's counter
// table cannot take a budget's counter (internal/filestore tests a full
// table; here it is a table of a version this one does not know), the
// transport counts it in state.json, and the budget holds all the same.
func TestUnusableCounterTableCountsInState(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	dir := t.TempDir()
	fs, err := NewFileStore(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	const connector = "generativelanguage.googleapis.com"
	// The table's first word is its version.
	table := filepath.Join(dir, connector, "budget.table")
	if err := os.MkdirAll(filepath.Dir(table), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(table, binary.NativeEndian.AppendUint64(nil, 99), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = fs.SpendBudget(context.Background(), connector, 1, []BudgetCounter{{Name: "minute/p/m", Start: time.Now(), End: time.Now().Add(time.Minute), Limit: 5}})
	if !errors.Is(err, errNoCounterRoom) {
		t.Fatalf("a spend in a table of another version: %v, want errNoCounterRoom", err)
	}
	tr, err := NewTransport(connector, WithKeys(Key{Name: "k", Value: "v-k-7731", Project: "p"}), WithStore(fs),
		WithBaseURL(srv.URL), WithClock(stillClock{time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}), WithMaxWait(-1),
		WithBudgets(Budget{Model: "m", PerMinute: 2, PerDay: 5}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	var got []string
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			got = append(got, "refused")
			continue
		}
		resp.Body.Close()
		got = append(got, resp.Status[:3])
	}
	if strings.Join(got, " ") != "200 200 refused" || served.Load() != 2 {
		t.Fatalf("got %v, %d served; want 2 served then refused, by a budget of 2 a minute", got, served.Load())
	}
	raw, err := fs.Load(context.Background(), connector)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(raw)
	if err != nil {
		t.Fatal(err)
	}
	w := quota.WindowsAt(time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC))
	if n := st.Count("p", "m", "minute", w.MinStart); n != 2 {
		t.Fatalf("the state counts %d requests, want 2: %+v", n, st.Usage)
	}
	if n := strings.Count(logs.String(), "cannot take a counter"); n != 1 {
		t.Fatalf("%d warnings that the table cannot take a counter, want 1:\n%s", n, logs.String())
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
