package jongler_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestHoldKeyAcrossTransports holds a key from one transport and checks
// that another one, with a file store of its own on the same state
// directory (as another process has), leases only the other keys until
// the hold ends by itself, or is reset.
func TestHoldKeyAcrossTransports(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte(`{}`)) }
	u := newUpstream(t, ok)
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	admin := newTransport(t, u, jongler.WithStateDir(dir), jongler.WithClock(clock))
	server := newTransport(t, u, jongler.WithStateDir(dir), jongler.WithClock(clock))
	defer admin.Close()
	defer server.Close()
	ctx := context.Background()

	if err := admin.HoldKey(ctx, "key1", time.Hour, "maintenance by ops"); err != nil {
		t.Fatal(err)
	}
	ks, err := server.KeyStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := ks.Keys["key1"]
	if d.State != jongler.StateLockdown || d.Reason != "maintenance by ops" || !d.Until.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("held key seen by the other transport: %+v", d)
	}
	for range 6 {
		if s := statusOf(t, server, u.URL); s != 200 {
			t.Fatalf("status %d", s)
		}
	}
	if slices.Contains(u.keysSeen(), testKeys["key1"]) {
		t.Fatalf("a held key was sent: %v", u.keysSeen())
	}

	// A shorter hold does not shorten the longer one.
	if err := admin.HoldKey(ctx, "key1", time.Minute, "short"); err != nil {
		t.Fatal(err)
	}
	if ks, _ = server.KeyStates(ctx); ks.Keys["key1"].Reason != "maintenance by ops" {
		t.Fatalf("a shorter hold replaced the longer: %+v", ks.Keys["key1"])
	}

	// The hold ends by itself.
	clock.Sleep(ctx, time.Hour+time.Second)
	if ks, _ = server.KeyStates(ctx); ks.Keys["key1"].State != jongler.StateVacant {
		t.Fatalf("after the hold: %+v", ks.Keys["key1"])
	}

	// ResetKey ends a hold at once, and only that key's.
	admin.HoldKey(ctx, "key1", time.Hour, "again")
	admin.HoldKey(ctx, "key2", time.Hour, "other")
	if err := server.ResetKey(ctx, "key1"); err != nil {
		t.Fatal(err)
	}
	ks, _ = admin.KeyStates(ctx)
	if ks.Keys["key1"].State != jongler.StateVacant || ks.Keys["key2"].State != jongler.StateLockdown {
		t.Fatalf("after resetting key1: key1 %+v, key2 %+v", ks.Keys["key1"], ks.Keys["key2"])
	}
}

// TestResetKeyClearsRefusal resets a key the upstream refused for good.
func TestResetKeyClearsRefusal(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == testKeys["key1"] {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":403,"message":"API key not valid","status":"PERMISSION_DENIED"}}`))
			return
		}
		w.Write([]byte(`{}`))
	})
	tr := newTransport(t, u)
	defer tr.Close()
	ctx := context.Background()
	for range 4 {
		statusOf(t, tr, u.URL)
	}
	ks, _ := tr.KeyStates(ctx)
	if ks.Keys["key1"].State != jongler.StateError {
		t.Fatalf("key1 not refused: %+v (seen %v)", ks.Keys["key1"], u.keysSeen())
	}
	if err := tr.ResetKey(ctx, "key1"); err != nil {
		t.Fatal(err)
	}
	if ks, _ = tr.KeyStates(ctx); ks.Keys["key1"].State != jongler.StateVacant {
		t.Fatalf("after reset: %+v", ks.Keys["key1"])
	}
}

// TestKeyHoldBadInput: unknown names and durations are errors naming them.
func TestKeyHoldBadInput(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	tr := newTransport(t, u)
	defer tr.Close()
	ctx := context.Background()
	for name, err := range map[string]error{
		"reset unknown": tr.ResetKey(ctx, "nope"),
		"hold unknown":  tr.HoldKey(ctx, "nope", time.Minute, ""),
		"hold zero":     tr.HoldKey(ctx, "key1", 0, ""),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := tr.ResetKey(ctx, "nope"); err.Error() != `jongler: generativelanguage.googleapis.com has no key named "nope"` {
		t.Errorf("error %q", err)
	}
}

// TestKeyStatesBudgets: KeyStates says what is used of each budget in the
// current windows, in every store.
func TestKeyStatesBudgets(t *testing.T) {
	for name, store := range map[string]func() jongler.Option{
		"memory": func() jongler.Option { return jongler.WithStore(jongler.NewMemoryStore()) },
		"file":   func() jongler.Option { return jongler.WithStateDir(t.TempDir()) },
	} {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte(`{}`)) })
			keys := []jongler.Key{{Name: "a", Value: testKeys["key1"], Project: "p1"}, {Name: "b", Value: testKeys["key2"], Project: "p2"}}
			clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)}
			tr := newTransport(t, u, store(), jongler.WithKeys(keys...), jongler.WithClock(clock),
				jongler.WithBudgets(jongler.Budget{Model: "gemini-2.5-flash", PerMinute: 5, PerDay: 100}))
			defer tr.Close()
			for range 3 {
				if s := statusOf(t, tr, u.URL); s != 200 {
					t.Fatalf("status %d", s)
				}
			}
			ks, err := tr.KeyStates(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(ks.Budgets) != 2 {
				t.Fatalf("budgets %+v", ks.Budgets)
			}
			used := 0
			for _, b := range ks.Budgets {
				if b.Model != "gemini-2.5-flash" || b.PerMinute != 5 || b.PerDay != 100 || b.Minute != b.Day {
					t.Errorf("budget %+v", b)
				}
				used += b.Minute
			}
			if used != 3 {
				t.Errorf("used %d in all, want 3: %+v", used, ks.Budgets)
			}
		})
	}
}
