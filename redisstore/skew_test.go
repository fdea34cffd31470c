package redisstore_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/redisstore"
)

// skewedClock is the real clock off by a fixed amount: a machine whose
// clock is wrong.
func skewedClock(by time.Duration) *jonglertest.Clock {
	now := time.Now()
	return jonglertest.NewClock(now.Add(by), now, time.Minute)
}

// hideClock hides that a store tells time, as a store without the
// StoreClock hook would.
type hideClock struct{ jongler.Store }

// TestClockSkew runs two transports, each with its own Redis client and
// store as two machines would have, whose clocks are 3 minutes fast and 3
// minutes slow. A cooldown one records is honoured by the other to its
// end, no longer, no shorter; a per-day cooldown ends at the same
// midnight in Los Angeles for both. Without the store's time (the
// control), the same run goes wrong by the skew.
func TestClockSkew(t *testing.T) {
	perMinute := fixture(t, "429-per-minute-tokens-free.json")
	perMinute = strings.Replace(perMinute, `"retryDelay":"26s"`, `"retryDelay":"3s"`, 1)
	perDay := fixture(t, "429-per-day-requests-free.json")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "gemini-2.0-pro-exp"):
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, perDay)
		case strings.Contains(r.URL.Path, "gemini-2.5-flash"):
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, perMinute)
		default:
			io.WriteString(w, `{"candidates":[]}`)
		}
	}))
	defer up.Close()
	srv := redistest.Start(t)

	run := func(t *testing.T, withStoreTime bool) (retryAfter time.Duration, dayUntil [2]time.Time) {
		prefix := freshPrefix()
		transport := func(skew time.Duration) *jongler.Transport {
			// WithStateMaxAge(0): each machine reads the other's writes at
			// once (TestLoadSeesOtherWriters covers the cache).
			var s jongler.Store = redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0), redisstore.WithStateMaxAge(0))
			if !withStoreTime {
				s = hideClock{s}
			}
			tr, err := jongler.NewTransport(jongler.ConnectorGemini,
				jongler.WithKeys(jongler.Key{Name: "a", Value: "skew-secret-a-0123456789"}),
				jongler.WithStore(s),
				jongler.WithBaseURL(up.URL),
				jongler.WithClock(skewedClock(skew)),
				jongler.WithMaxWait(-1),
			)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tr.CloseIdleConnections)
			return tr
		}
		fast, slow := transport(3*time.Minute), transport(-3*time.Minute)
		send := func(tr *jongler.Transport, model string) error {
			req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1beta/models/"+model+":generateContent", strings.NewReader(`{}`))
			resp, err := tr.RoundTrip(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return err
		}
		// The fast machine gets a per-minute 429 (3 s); the slow one asks.
		if err := send(fast, "gemini-2.5-flash"); err != nil {
			t.Fatal(err)
		}
		var nk *jongler.NoKeyError
		if err := send(slow, "gemini-2.5-flash"); !errors.As(err, &nk) {
			t.Logf("the slow machine was not held back by the fast one's cooldown: %v", err)
		} else {
			retryAfter = nk.RetryAfter
		}
		// A per-day 429 on the slow machine: both see the same end.
		if err := send(slow, "gemini-2.0-pro-exp"); err != nil {
			t.Fatal(err)
		}
		for i, tr := range []*jongler.Transport{slow, fast} {
			ks, err := tr.KeyStates(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			dayUntil[i] = ks.Keys["a"].Until
		}
		return retryAfter, dayUntil
	}

	t.Run("store time", func(t *testing.T) {
		retryAfter, day := run(t, true)
		t.Logf("the slow machine waits %v for the fast one's 3s cooldown; per-day ends %v and %v", retryAfter, day[0], day[1])
		if retryAfter <= 0 || retryAfter > 3*time.Second {
			t.Errorf("the slow machine would wait %v for a 3s cooldown the fast one recorded; want (0, 3s]", retryAfter)
		}
		if !day[0].Equal(day[1]) {
			t.Errorf("per-day cooldown ends %v on one machine, %v on the other", day[0], day[1])
		}
		la, _ := time.LoadLocation("America/Los_Angeles")
		if d := day[0].In(la); d.Hour() != 0 || d.Minute() != 0 || d.Sub(time.Now()) > 24*time.Hour || d.Before(time.Now()) {
			t.Errorf("per-day cooldown ends %v; want the next midnight in Los Angeles", d)
		}
	})
	t.Run("control without store time", func(t *testing.T) {
		retryAfter, _ := run(t, false)
		t.Logf("without the store's time, the slow machine waits %v for the fast one's 3s cooldown", retryAfter)
		if retryAfter < 6*time.Minute {
			t.Errorf("the control waited %v: the skew did not show, so the test proves nothing", retryAfter)
		}
	})
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/fixtures/gemini/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
