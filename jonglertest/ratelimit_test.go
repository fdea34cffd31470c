package jonglertest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestRateLimitHeaders: with Config.RateLimitHeaders every answer to a
// quota check carries the (project, model)'s windows, in simulated time.
func TestRateLimitHeaders(t *testing.T) {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:             keys("p", "a1"),
		Models:           map[string]jonglertest.Quota{flash: {RPM: 2, RPD: 100}, "unlimited": {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
		Minute:           time.Hour, // windows never turn during the test
		Start:            noon.Add(15 * time.Second),
		RateLimitHeaders: true,
	})
	defer srv.Close()
	for i, want := range []struct {
		status    int
		remaining string
	}{{200, "1"}, {200, "0"}, {429, "0"}} {
		r := gen(t, srv, "value-a1", flash)
		if r.err != nil || r.status != want.status {
			t.Fatalf("request %d: %d %v", i, r.status, r.err)
		}
		h := r.header
		if h.Get("x-ratelimit-limit-requests") != "2" || h.Get("x-ratelimit-remaining-requests") != want.remaining ||
			h.Get("x-ratelimit-limit-requests-day") != "100" {
			t.Fatalf("request %d: headers %v", i, h)
		}
		// 45s of the minute window are left, a bit less as time runs.
		d, err := time.ParseDuration(h.Get("x-ratelimit-reset-requests"))
		if err != nil || d > 45*time.Second || d < 40*time.Second {
			t.Fatalf("request %d: reset %q", i, h.Get("x-ratelimit-reset-requests"))
		}
		if !strings.HasPrefix(h.Get("x-ratelimit-reset-requests-day"), "683") { // noon UTC is 05:00 in LA: 19h to midnight
			t.Fatalf("request %d: day reset %q", i, h.Get("x-ratelimit-reset-requests-day"))
		}
	}
	if r := gen(t, srv, "value-a1", "unlimited"); r.status != 200 || r.header.Get("x-ratelimit-limit-requests") != "" {
		t.Fatalf("an unlimited model: %d %v", r.status, r.header)
	}
	// Off by default: Google sends none.
	plain := jonglertest.NewServer(jonglertest.Config{Keys: keys("p", "a1"), Models: map[string]jonglertest.Quota{flash: {RPM: 2, RPD: 100}}})
	defer plain.Close()
	if r := gen(t, plain, "value-a1", flash); r.header.Get("x-ratelimit-remaining-requests") != "" {
		t.Fatal("rate-limit headers without Config.RateLimitHeaders")
	}
}

// TestUnstartedServerInBubble: an unstarted server's handler serves in
// memory inside a synctest bubble, where its clock runs on the bubble's.
func TestUnstartedServerInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := jonglertest.NewUnstartedServer(jonglertest.Config{
			Keys: keys("p", "a1"), Models: map[string]jonglertest.Quota{flash: {RPM: 1, RPD: 100}},
			Start: noon, Minute: time.Minute,
		})
		defer srv.Close()
		if srv.URL != "" {
			t.Fatalf("URL %q before Start", srv.URL)
		}
		send := func() int {
			req := httptest.NewRequest(http.MethodPost, "/v1beta/models/"+flash+":generateContent", strings.NewReader(okRequest))
			req.Header.Set("x-goog-api-key", "value-a1")
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			return rec.Code
		}
		if a, b := send(), send(); a != 200 || b != 429 {
			t.Fatalf("statuses %d %d, want 200 429", a, b)
		}
		time.Sleep(time.Minute) // the bubble's clock: instant
		if got := send(); got != 200 || !srv.Now().Equal(noon.Add(time.Minute)) {
			t.Fatalf("after a minute: %d at %v", got, srv.Now())
		}
	})
}
