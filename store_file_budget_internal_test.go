//go:build unix

package jongler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
)

// stillClock is a clock that does not move.
type stillClock struct{ now time.Time }

func (c stillClock) Now() time.Time { return c.now }
func (c stillClock) Sleep(ctx context.Context, d time.Duration) error {
	return ctx.Err()
}

// TestFullCounterTableCountsInState: when a budget's counter finds no
// room in the file store's table, the transport counts it in state.json,
// and the budget holds all the same.
func TestFullCounterTableCountsInState(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	fs, err := NewFileStore(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
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
	_, _, err = fs.SpendBudget(context.Background(), connector, 1, []BudgetCounter{{Name: "minute/p/m", Start: time.Now(), End: time.Now().Add(time.Minute), Limit: 5}})
	if !errors.Is(err, errNoCounterRoom) {
		t.Fatalf("a spend in a full table: %v, want errNoCounterRoom", err)
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
		t.Fatalf("%d warnings that the table is full, want 1:\n%s", n, logs.String())
	}
}

// TestTruncatedCounterTable: a counter table truncated under the mapping
// (touching it would raise SIGBUS) is grown back, its counts lost, and
// spends go on.
func TestTruncatedCounterTable(t *testing.T) {
	dir := t.TempDir()
	fs, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	c := []BudgetCounter{{Name: "minute/p/m", Start: start, End: start.Add(time.Minute), Limit: 5}}
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
