package quota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestInventedModelsShareOneCount: a client that names a new model on
// every request under a "*" budget gets MaxModels names counted apart in
// a day; the requests of the names past them share one count, so the
// counters (in a store, or in the state without one) stay bounded
// however many names are made up, and the shared count holds the "*"
// budget. Each name past MaxModels costs no state write. The warning is
// given once.
func TestInventedModelsShareOneCount(t *testing.T) {
	for _, counters := range []bool{true, false} {
		t.Run(fmt.Sprintf("counters=%v", counters), func(t *testing.T) {
			m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
			var logs strings.Builder
			cfg := Config[Counter]{Connector: "c", Budgets: []Budget{{Model: "*", PerMinute: 2, PerDay: 100}}, Projects: []string{"p"},
				Update: m.update, Now: m.clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			if counters {
				cfg.Store = m
			}
			b := New(cfg)
			for i := range MaxModels {
				if !spend(t, b, m, "p", fmt.Sprintf("made-up-%d", i)) {
					t.Fatalf("model %d refused: each of the first %d is counted apart", i, MaxModels)
				}
			}
			// The names past MaxModels share one count: two a minute.
			var served int
			for i := MaxModels; i < 4*MaxModels; i++ {
				if spend(t, b, m, "p", fmt.Sprintf("made-up-%d", i)) {
					served++
				}
			}
			if served != 2 {
				t.Fatalf("%d requests of the names past %d served in a minute; want 2, the shared count's budget", served, MaxModels)
			}
			if n := len(m.st.Models); n != MaxModels {
				t.Fatalf("the state lists %d models; want %d", n, MaxModels)
			}
			names := map[string]bool{}
			for _, u := range m.st.Usage {
				names[u.Model] = true
			}
			for k := range m.counts {
				name, _, _ := strings.Cut(strings.SplitN(k, "/", 3)[2], "@")
				names[name] = true
			}
			if len(names) > MaxModels+1 {
				t.Fatalf("%d model names counted; want at most %d", len(names), MaxModels+1)
			}
			if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
				t.Fatalf("%d warnings, want 1:\n%s", got, logs.String())
			}
		})
	}
}

// TestModelsCountedApartWhenFull: once a day's names are all taken, a
// model with a budget of its own, one with a learned quota, and one
// already listed are still counted apart; the next day, new names are
// counted apart again and the day past's list is dropped.
func TestModelsCountedApartWhenFull(t *testing.T) {
	m := &memory{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	b := newBook(m, true, Budget{Model: "*", PerMinute: 1}, Budget{Model: "own", PerMinute: 1})
	for i := range MaxModels {
		spend(t, b, m, "p", fmt.Sprintf("made-up-%d", i))
	}
	if err := b.Learn(context.Background(), "p", "learned", Fact{Window: "day", Limit: 50}); err != nil {
		t.Fatal(err)
	}
	m.now = m.now.Add(time.Minute) // a new minute; learn spent "learned"'s
	if !spend(t, b, m, "p", "shared-1") || spend(t, b, m, "p", "shared-2") {
		t.Fatal("the names past the day's list do not share one count of one a minute")
	}
	if !spend(t, b, m, "p", "own") {
		t.Fatal("a model with a budget of its own is counted with the shared one")
	}
	if !spend(t, b, m, "p", "made-up-7") {
		t.Fatal("a listed model is counted with the shared one")
	}
	st := m.st.Clone()
	if name, _ := b.countedAs(&st, "learned", WindowsAt(m.now).DayStart); name != "learned" {
		t.Fatalf("a model with a learned quota is counted as %q", name)
	}
	m.now = m.now.Add(24 * time.Hour)
	if !spend(t, b, m, "p", "tomorrow") || !spend(t, b, m, "p", "tomorrow-2") {
		t.Fatal("new names the next day are not counted apart")
	}
	if n := len(m.st.Models); n != 2 {
		t.Fatalf("the state lists %d models the next day; want 2", n)
	}
	for _, l := range m.st.Models {
		if l.Day.Before(WindowsAt(m.now).DayStart) {
			t.Fatalf("a model of a day past is still listed: %+v", l)
		}
	}
}
