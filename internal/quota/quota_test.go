package quota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// memory is a connector's state in memory, and a Store of counters unless
// noRoom, which answers every spend ErrNoCounterRoom.
type memory struct {
	mu     sync.Mutex
	st     state.State
	counts map[string]int // by counter name and window start
	spends int            // SpendBudget calls with n > 0
	noRoom bool
	now    time.Time
}

func (m *memory) update(_ context.Context, fn func(*state.State) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st.Clone()
	if err := fn(&st); err != nil {
		return err
	}
	m.st = st
	return nil
}

// clock is m's time, which the test moves between spends (Update's
// function reads it, with m.mu held).
func (m *memory) clock() time.Time { return m.now }

func (m *memory) SpendBudget(_ context.Context, _ string, n int, cs []Counter) ([]int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.noRoom {
		return nil, false, ErrNoCounterRoom
	}
	if n > 0 {
		m.spends++
	}
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	key := func(c Counter) string { return c.Name + "@" + c.Start.String() }
	ok := true
	for _, c := range cs {
		if c.Limit > 0 && m.counts[key(c)]+n > c.Limit {
			ok = false
		}
	}
	out := make([]int, len(cs))
	for i, c := range cs {
		if ok {
			m.counts[key(c)] += n
		}
		out[i] = m.counts[key(c)]
	}
	return out, ok, nil
}

// newBook returns a Book on m, counting in m's counters if counters.
func newBook(m *memory, counters bool, budgets ...Budget) *Book[Counter] {
	cfg := Config[Counter]{Connector: "c", Budgets: budgets, Projects: []string{"p", "q"}, Update: m.update, Now: m.clock}
	if counters {
		cfg.Store = m
	}
	return New(cfg)
}

// spend spends one request of project for model at m's time.
func spend(t *testing.T, b *Book[Counter], m *memory, project, model string) bool {
	t.Helper()
	m.mu.Lock()
	st := m.st.Clone()
	m.mu.Unlock()
	bud, ok := b.Budget(&st, project, model)
	if !ok {
		t.Fatalf("%s %s: no budget", project, model)
	}
	spent, err := b.Spend(context.Background(), &st, bud, project, model)
	if err != nil {
		t.Fatal(err)
	}
	return !spent
}

// TestSpend: a budget of two a minute takes two requests of a project in
// a minute window and refuses the third, with or without a store of
// counters; the next window starts afresh, and another project counts
// apart.
func TestSpend(t *testing.T) {
	for _, counters := range []bool{true, false} {
		m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
		b := newBook(m, counters, Budget{Model: "*", PerMinute: 2})
		got := []bool{spend(t, b, m, "p", "m"), spend(t, b, m, "p", "m"), spend(t, b, m, "p", "m"), spend(t, b, m, "q", "m")}
		if got[0] != true || got[1] != true || got[2] != false || got[3] != true {
			t.Fatalf("counters %v: spends %v, want two taken, the third refused, another project's taken", counters, got)
		}
		if counters && len(m.st.Usage) != 0 {
			t.Fatalf("counted in the state too: %+v", m.st.Usage)
		}
		m.now = m.now.Add(time.Minute)
		if !spend(t, b, m, "p", "m") {
			t.Fatalf("counters %v: the next minute's first spend refused", counters)
		}
	}
}

// TestFoundSpentRemembered: once a store refuses a spend, the budget is
// held back by this process until its window ends, without asking the
// store again, even where the store's counts are lost.
func TestFoundSpentRemembered(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	b := newBook(m, true, Budget{Model: "m", PerMinute: 1})
	spend(t, b, m, "p", "m")
	if spend(t, b, m, "p", "m") {
		t.Fatal("a second spend of a budget of one taken")
	}
	m.counts, m.spends = nil, 0 // lost: a store restarted
	blocked, until := b.Blocked(&m.st, nil, "p", "m", m.now)
	if !blocked || !until.Equal(time.Date(2026, 5, 4, 9, 1, 0, 0, time.UTC)) || b.Marks() != 1 {
		t.Fatalf("blocked %v until %v, %d marks; want held back to the minute's end", blocked, until, b.Marks())
	}
	if spend(t, b, m, "p", "m") || m.spends != 0 {
		t.Fatalf("spent again, %d spends asked of the store; want none", m.spends)
	}
	if blocked, _ := b.Blocked(&m.st, nil, "p", "m", until); blocked {
		t.Fatal("still held back once the window ended")
	}
}

// TestNoCounterRoomCountsInState: a store with no room for a counter has
// the request counted in the state, as without a store.
func TestNoCounterRoomCountsInState(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC), noRoom: true}
	b := newBook(m, true, Budget{Model: "*", PerMinute: 1})
	if !spend(t, b, m, "p", "m") || spend(t, b, m, "p", "m") {
		t.Fatal("want one spend taken, the next refused")
	}
	if n := m.st.Count("p", "m", "minute", m.now.Truncate(time.Minute)); n != 1 {
		t.Fatalf("the state counts %d, want 1", n)
	}
}

// TestLearn: a quota learned lowers the project's budget for the model,
// a configured one below it wins, the window it was learned in counts as
// spent, and a token quota or a quota without a model teaches nothing.
func TestLearn(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	b := newBook(m, false, Budget{Model: "m", PerMinute: 5, PerDay: 2})
	ctx := context.Background()
	if err := b.Learn(ctx, "p", "m", Fact{Window: "minute", Limit: 3, From: "PerMinute"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fact{{Window: "hour", Limit: 1}, {Window: "minute"}} {
		b.Learn(ctx, "p", "m", f)
	}
	b.Learn(ctx, "p", "", Fact{Window: "minute", Limit: 1})
	if len(m.st.Learned) != 1 || m.st.Learned[0].From != "PerMinute" || !m.st.Learned[0].At.Equal(m.now) {
		t.Fatalf("learned %+v, want the minute quota alone", m.st.Learned)
	}
	if bud, ok := b.Budget(&m.st, "p", "m"); !ok || bud.PerMinute != 3 || bud.PerDay != 2 {
		t.Fatalf("budget %+v %v, want 3 a minute (learned), 2 a day (configured)", bud, ok)
	}
	if bud, ok := b.Budget(&m.st, "q", "m"); !ok || bud.PerMinute != 5 {
		t.Fatalf("another project's budget %+v %v, want the configured one", bud, ok)
	}
	if spend(t, b, m, "p", "m") {
		t.Fatal("the window the quota was learned in was spent again")
	}
	c, ok, err := b.Counts(ctx, &m.st, "m", m.now)
	if blocked, _ := c.blocked(Budget{PerMinute: 3}, "p"); err != nil || !ok || !blocked {
		t.Fatalf("counts %+v %v %v: the learned window not counted spent", c, ok, err)
	}
}

// TestCountsAddStoreToState: the counts of a model add the store's
// counters to the state's, for every project with a budget; with no
// budget at all, nothing is counted.
func TestCountsAddStoreToState(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	b := newBook(m, true, Budget{Model: "m", PerMinute: 10})
	spend(t, b, m, "q", "m")
	spend(t, b, m, "q", "m")
	b.Learn(context.Background(), "q", "m", Fact{Window: "day", Limit: 50})
	c, ok, err := b.Counts(context.Background(), &m.st, "m", m.now)
	if err != nil || !ok || c.minute["q"] != 2 || c.day["q"] != 50 || c.minute["p"] != 0 {
		t.Fatalf("counts %+v %v %v", c, ok, err)
	}
	if _, ok, _ := newBook(m, true).Counts(context.Background(), &state.State{}, "m", m.now); ok {
		t.Fatal("counted without a budget")
	}
	m.noRoom = true
	if _, _, err := b.Counts(context.Background(), &m.st, "m", m.now); err != nil {
		t.Fatalf("a store without room: %v, want the state's counts alone", err)
	}
}

// TestUsageCapped: projects and models counted apart on every request
// under a "*" budget, with no store of counters, leave at most MaxUsage
// counts in the state, those of the windows that end first dropped first;
// the warning is given once.
func TestUsageCapped(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	var logs strings.Builder
	cfg := Config[Counter]{Connector: "c", Budgets: []Budget{{Model: "*", PerMinute: 5, PerDay: 10}}, Projects: []string{"p"},
		Update: m.update, Now: m.clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	b := New(cfg)
	const models = 200      // under MaxModels: each counted apart
	pairs := MaxUsage/2 + 8 // two counts each: a minute's and a day's
	at := func(i int) (string, string) { return fmt.Sprintf("p%d", i/models), fmt.Sprintf("made-up-%d", i%models) }
	for i := range pairs {
		if p, model := at(i); !spend(t, b, m, p, model) {
			t.Fatalf("spend %d refused", i)
		}
		if n := len(m.st.Usage); n > MaxUsage {
			t.Fatalf("after %d spends the state keeps %d counts; want at most %d", i+1, n, MaxUsage)
		}
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", got, logs.String())
	}
	// The counts kept are the latest pairs' day windows, which end last.
	p, last := at(pairs - 1)
	w := WindowsAt(m.now)
	if m.st.Count(p, last, "day", w.DayStart) != 1 || m.st.Count(p, last, "minute", w.MinStart) != 1 {
		t.Fatal("the latest model's counts were dropped")
	}
}
