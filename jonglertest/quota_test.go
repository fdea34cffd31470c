package jonglertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

func TestQuotaPerProjectAndModel(t *testing.T) {
	const pro = "gemini-2.5-pro"
	type step struct {
		key, model string
		status     int
		quotaID    string // of a 429
	}
	const perMinute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	const perDay = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
	tests := []struct {
		name   string
		models map[string]jonglertest.Quota
		steps  []step
	}{
		{
			name:   "keys of one project share its per-minute quota",
			models: map[string]jonglertest.Quota{flash: {RPM: 2, RPD: 100}},
			steps: []step{
				{"a1", flash, 200, ""},
				{"a2", flash, 200, ""},
				{"a1", flash, 429, perMinute},
				{"a2", flash, 429, perMinute},
				{"b1", flash, 200, ""}, // another project has its own quota
				{"b1", flash, 200, ""},
				{"b1", flash, 429, perMinute},
			},
		},
		{
			name:   "each model has its own quota",
			models: map[string]jonglertest.Quota{flash: {RPM: 1, RPD: 100}, pro: {RPM: 1, RPD: 100}},
			steps: []step{
				{"a1", flash, 200, ""},
				{"a2", pro, 200, ""},
				{"a2", flash, 429, perMinute},
				{"a1", pro, 429, perMinute},
			},
		},
		{
			name:   "the per-day quota binds before the per-minute one",
			models: map[string]jonglertest.Quota{flash: {RPM: 5, RPD: 2}},
			steps: []step{
				{"a1", flash, 200, ""},
				{"a2", flash, 200, ""},
				{"a1", flash, 429, perDay},
				{"b1", flash, 200, ""},
			},
		},
		{
			name:   "a zero quota refuses everything",
			models: map[string]jonglertest.Quota{pro: {RPM: 0, RPD: 0}, flash: {RPM: 0, RPD: jonglertest.Unlimited}},
			steps: []step{
				{"a1", pro, 429, perDay},
				{"a1", flash, 429, perMinute},
			},
		},
		{
			name:   "unlimited",
			models: map[string]jonglertest.Quota{flash: {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
			steps:  []step{{"a1", flash, 200, ""}, {"a1", flash, 200, ""}, {"a2", flash, 200, ""}},
		},
		{
			name:   "an unknown model is not found",
			models: map[string]jonglertest.Quota{flash: {RPM: 1, RPD: 1}},
			steps:  []step{{"a1", "gemini-9", 404, ""}, {"a1", flash, 200, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys:   append(keys("project-a", "a1", "a2"), keys("project-b", "b1")...),
				Models: tt.models,
				Start:  noon,
			})
			defer srv.Close()
			for i, s := range tt.steps {
				r := gen(t, srv, "value-"+s.key, s.model)
				if r.status != s.status {
					t.Fatalf("step %d (%s, %s): status %d, want %d: %s", i+1, s.key, s.model, r.status, s.status, r.body)
				}
				if s.status != 429 {
					continue
				}
				e := decodeError(t, r.body)
				v := e.violation(t)
				q := tt.models[s.model]
				limit := q.RPM
				if s.quotaID == perDay {
					limit = q.RPD
				}
				if v["quotaId"] != s.quotaID || v["quotaValue"] != fmt.Sprint(limit) ||
					v["quotaMetric"] != "generativelanguage.googleapis.com/generate_content_free_tier_requests" {
					t.Errorf("step %d: violation %v, want %s with value %d", i+1, v, s.quotaID, limit)
				}
				dims := v["quotaDimensions"].(map[string]any)
				if dims["model"] != s.model || dims["location"] != "global" {
					t.Errorf("step %d: quotaDimensions %v", i+1, dims)
				}
				if e.detail("Help") == nil {
					t.Errorf("step %d: no Help link", i+1)
				}
			}
		})
	}
}

func TestRetryDelayIsTimeLeftInWindow(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		start     time.Time
		quota     jonglertest.Quota
		windowEnd time.Time
	}{
		{
			name:      "minute window",
			start:     time.Date(2025, 6, 1, 12, 0, 15, 0, time.UTC),
			quota:     jonglertest.Quota{RPM: 1, RPD: 100},
			windowEnd: time.Date(2025, 6, 1, 12, 1, 0, 0, time.UTC),
		},
		{
			name:      "day window, summer (PDT), start given in UTC",
			start:     time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC), // 13:00 PDT
			quota:     jonglertest.Quota{RPM: 100, RPD: 1},
			windowEnd: time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC), // midnight PDT
		},
		{
			name:      "day window, winter (PST)",
			start:     time.Date(2025, 1, 15, 23, 0, 0, 0, la),
			quota:     jonglertest.Quota{RPM: 100, RPD: 1},
			windowEnd: time.Date(2025, 1, 16, 0, 0, 0, 0, la),
		},
		{
			name:      "day of 25 hours (end of DST)",
			start:     time.Date(2025, 11, 2, 0, 30, 0, 0, la),
			quota:     jonglertest.Quota{RPM: 100, RPD: 1},
			windowEnd: time.Date(2025, 11, 2, 0, 30, 0, 0, la).Add(24*time.Hour + 30*time.Minute),
		},
		{
			name:      "day of 23 hours (start of DST)",
			start:     time.Date(2025, 3, 9, 0, 30, 0, 0, la),
			quota:     jonglertest.Quota{RPM: 100, RPD: 1},
			windowEnd: time.Date(2025, 3, 9, 0, 30, 0, 0, la).Add(22*time.Hour + 30*time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys:   keys("p", "k"),
				Models: map[string]jonglertest.Quota{flash: tt.quota},
				Start:  tt.start,
			})
			defer srv.Close()
			if r := gen(t, srv, "value-k", flash); r.status != 200 {
				t.Fatalf("first request: %d", r.status)
			}
			before := srv.Now()
			r := gen(t, srv, "value-k", flash)
			after := srv.Now()
			if r.status != 429 {
				t.Fatalf("second request: %d, want 429", r.status)
			}
			got := decodeError(t, r.body).retryDelay(t)
			if lo, hi := tt.windowEnd.Sub(after), tt.windowEnd.Sub(before); got < lo || got > hi {
				t.Errorf("retryDelay %v, want between %v and %v", got, lo, hi)
			}
		})
	}
}

func TestMessageOnlyFormat(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:        keys("p", "k"),
		Models:      map[string]jonglertest.Quota{flash: {RPM: 1, RPD: 50}},
		Start:       time.Date(2025, 6, 1, 12, 0, 20, 0, time.UTC),
		MessageOnly: true,
	})
	defer srv.Close()
	gen(t, srv, "value-k", flash)
	r := gen(t, srv, "value-k", flash)
	e := decodeError(t, r.body)
	if r.status != 429 || e.Error.Status != "RESOURCE_EXHAUSTED" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if e.detail("QuotaFailure") != nil || e.detail("RetryInfo") != nil || e.detail("Help") == nil {
		t.Errorf("details %v, want only Help", e.Error.Details)
	}
	want := "\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 1, model: gemini-2.5-flash\nPlease retry in "
	msg := e.Error.Message
	i := strings.Index(msg, want)
	if i < 0 {
		t.Fatalf("message %q lacks %q", msg, want)
	}
	delay, err := time.ParseDuration(strings.TrimSuffix(msg[i+len(want):], "."))
	if err != nil || delay <= 30*time.Second || delay > 40*time.Second {
		t.Errorf("retry in %v (%v), want a bit under 40s", delay, err)
	}
}

// A client that sleeps the retryDelay on the server's Clock gets through at
// once, for minute and day windows, at a fast time scale.
func TestClockSleepCoolsDownExactly(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	tests := []struct {
		name  string
		start time.Time
		quota jonglertest.Quota
	}{
		{"minute", noon, jonglertest.Quota{RPM: 2, RPD: jonglertest.Unlimited}},
		{"day rolls over at Los Angeles midnight", time.Date(2025, 6, 1, 23, 59, 0, 0, la), jonglertest.Quota{RPM: 100, RPD: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys:   keys("p", "k"),
				Models: map[string]jonglertest.Quota{flash: tt.quota},
				Start:  tt.start,
				// The three first requests must fit in the first simulated
				// minute: 200ms leaves room for a loaded machine.
				Minute: 200 * time.Millisecond,
			})
			defer srv.Close()
			day := srv.Now().In(la).Day()
			for range 2 {
				if r := gen(t, srv, "value-k", flash); r.status != 200 {
					t.Fatalf("status %d", r.status)
				}
			}
			r := gen(t, srv, "value-k", flash)
			if r.status != 429 {
				t.Fatalf("status %d, want 429", r.status)
			}
			delay := decodeError(t, r.body).retryDelay(t)
			if err := srv.Clock().Sleep(context.Background(), delay); err != nil {
				t.Fatal(err)
			}
			if r := gen(t, srv, "value-k", flash); r.status != 200 {
				t.Fatalf("after sleeping %v: status %d %s", delay, r.status, r.body)
			}
			if tt.quota.RPD == 2 && srv.Now().In(la).Day() == day {
				t.Errorf("still the same day in Los Angeles: %v", srv.Now().In(la))
			}
		})
	}
}

func TestQuotaCapacity(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	at := func(h, m, s int) time.Time { return time.Date(2025, 6, 1, h, m, s, 0, la) }
	tests := []struct {
		name     string
		q        jonglertest.Quota
		from, to time.Time
		want     int
	}{
		{"whole minutes", jonglertest.Quota{RPM: 10, RPD: 1000}, at(12, 0, 0), at(12, 5, 0), 50},
		{"partial windows count whole", jonglertest.Quota{RPM: 10, RPD: 1000}, at(12, 0, 30), at(12, 5, 1), 60},
		{"one instant", jonglertest.Quota{RPM: 10, RPD: 1000}, at(12, 0, 30), at(12, 0, 30).Add(1), 10},
		{"day limit binds", jonglertest.Quota{RPM: 10, RPD: 25}, at(12, 0, 0), at(13, 0, 0), 25},
		{"across midnight: two days", jonglertest.Quota{RPM: 10, RPD: 25}, at(23, 0, 0), at(23, 0, 0).Add(2 * time.Hour), 50},
		{"across midnight: minutes", jonglertest.Quota{RPM: 10, RPD: 1000}, at(23, 58, 0), at(23, 58, 0).Add(4 * time.Minute), 40},
		{"per-minute unlimited", jonglertest.Quota{RPM: jonglertest.Unlimited, RPD: 25}, at(1, 0, 0), at(1, 0, 0).Add(72 * time.Hour), 100}, // 4 days touched
		{"per-day unlimited", jonglertest.Quota{RPM: 3, RPD: jonglertest.Unlimited}, at(1, 0, 0), at(2, 0, 0), 180},
		{"unlimited", jonglertest.Quota{RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}, at(1, 0, 0), at(2, 0, 0), jonglertest.Unlimited},
		{"zero quota", jonglertest.Quota{}, at(1, 0, 0), at(2, 0, 0), 0},
		{"empty interval", jonglertest.Quota{RPM: 10, RPD: 25}, at(2, 0, 0), at(1, 0, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Capacity(tt.from, tt.to); got != tt.want {
				t.Errorf("Capacity = %d, want %d", got, tt.want)
			}
		})
	}

	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: append(append(keys("p1", "a", "b"), keys("p2", "c")...),
			jonglertest.Key{Label: "d", Value: "value-d", Project: "p3", Leaked: true}),
		Models: map[string]jonglertest.Quota{flash: {RPM: 10, RPD: 1000}},
	})
	defer srv.Close()
	from := at(12, 0, 0)
	if got := srv.Capacity(flash, from, from.Add(time.Minute)); got != 20 {
		t.Errorf("server capacity %d, want 20 (2 usable projects × 10)", got)
	}
	srv.Invalidate("c")
	if got := srv.Capacity(flash, from, from.Add(time.Minute)); got != 10 {
		t.Errorf("server capacity %d after invalidating p2's only key, want 10", got)
	}
	if got := srv.Capacity("nope", from, from.Add(time.Minute)); got != 0 {
		t.Errorf("capacity of an unknown model %d", got)
	}
}

// Successes per window never exceed the quota, and a client that cools down
// on the Clock fills the windows: utilisation per window is 100%. (Each
// simulated minute lasts 250ms, to leave time for three requests even on a
// loaded machine.)
func TestWindowsAndUtilisation(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   keys("p", "k"),
		Models: map[string]jonglertest.Quota{flash: {RPM: 3, RPD: jonglertest.Unlimited}},
		Start:  noon,
		Minute: 250 * time.Millisecond,
	})
	defer srv.Close()
	end := srv.WindowStart(2)
	for srv.Now().Before(end) {
		r := gen(t, srv, "value-k", flash)
		if r.status == 429 {
			if err := srv.Clock().Sleep(context.Background(), decodeError(t, r.body).retryDelay(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := srv.Stats()
	successes := 0
	for w, c := range st.Windows {
		if c.Successes > 3 {
			t.Errorf("window %+v: %d successes over RPM 3", w, c.Successes)
		}
		if w.Minute < 2 {
			successes += c.Successes
		}
	}
	if got := srv.WindowStart(1); !got.Equal(noon.Add(time.Minute)) {
		t.Errorf("window 1 starts at %v", got)
	}
	if got := st.Windows[jonglertest.Window{Project: "p", Model: flash, Minute: 1}].Successes; got != 3 {
		t.Errorf("window 1: %d successes, want 3", got)
	}
	if capacity := srv.Capacity(flash, noon, end); successes != capacity || capacity != 6 {
		t.Errorf("%d successes in windows 0-1, capacity %d, want 6", successes, capacity)
	}
}
