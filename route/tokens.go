package route

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler/internal/upstream"
)

// tokenWindow is what the handler knows of a target's token windows: the
// tokens its provider's last answer said were left (x-ratelimit-
// remaining-tokens), and a per-minute input-token quota learned from a
// Gemini QuotaFailure, which the handler counts itself: estimated from
// each request's size before it is sent, corrected by the usage its
// answer reports. It is this process's view, per target: with several
// projects behind one connector, the last answer's.
type tokenWindow struct {
	mu sync.Mutex
	// remaining tokens until reset, from headers; -1: unknown.
	remaining int64
	reset     time.Time
	// limit is the learned input tokens per minute (0: none); used is
	// what was counted in the minute from start.
	limit int64
	start time.Time
	used  int64
}

// tokenWindow returns t's window, made on first use.
func (h *Handler) tokenWindow(t Target) *tokenWindow {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.tokens[t]
	if w == nil {
		w = &tokenWindow{remaining: -1}
		h.tokens[t] = w
	}
	return w
}

// roll starts a new minute's count when now is past the counted one.
func (w *tokenWindow) roll(now time.Time) {
	if m := now.Truncate(time.Minute); !m.Equal(w.start) {
		w.start, w.used = m, 0
	}
}

// headroom returns when the target can take a request of est input
// tokens: now or earlier if it can now; the zero time if it never can
// (est is over the learned quota itself).
func (w *tokenWindow) headroom(now time.Time, est int64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := now
	if w.remaining >= 0 && now.Before(w.reset) && w.remaining < est {
		at = w.reset
	}
	if w.limit > 0 {
		if est > w.limit {
			return time.Time{}
		}
		w.roll(now)
		if w.used+est > w.limit {
			at = later(at, w.start.Add(time.Minute))
		}
	}
	return at
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reserve counts est tokens of a request about to be sent.
func (w *tokenWindow) reserve(now time.Time, est int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	w.used += est
	if w.remaining > 0 && now.Before(w.reset) {
		w.remaining = max(w.remaining-est, 0)
	}
}

// settle replaces a reservation of est tokens by the actual count, if
// its minute is still the one counted.
func (w *tokenWindow) settle(now time.Time, est, actual int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Truncate(time.Minute).Equal(w.start) {
		w.used = max(w.used+actual-est, 0)
	}
}

// fromHeaders reads x-ratelimit-*-tokens (per minute, or unnamed period).
func (w *tokenWindow) fromHeaders(h http.Header, now time.Time) {
	rl := upstream.ReadRateLimit(h, now)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, win := range rl.Windows {
		if win.Kind != "tokens" && win.Kind != "input-tokens" || win.Remaining < 0 || win.Period > time.Minute {
			continue
		}
		reset := win.Reset
		if reset.IsZero() {
			reset = now.Add(time.Minute)
		}
		w.remaining, w.reset = win.Remaining, reset
	}
}

// fromGeminiQuota learns a per-minute input-token quota from a Gemini
// 429's QuotaFailure (a JSON object, or one in an array as the OpenAI-
// compatible endpoint sends it), and marks this minute spent.
func (w *tokenWindow) fromGeminiQuota(body []byte, now time.Time) {
	type status struct {
		Error struct {
			Details []struct {
				Type       string `json:"@type"`
				Violations []struct {
					QuotaID     string `json:"quotaId"`
					QuotaMetric string `json:"quotaMetric"`
					QuotaValue  string `json:"quotaValue"`
				} `json:"violations"`
			} `json:"details"`
		} `json:"error"`
	}
	var one status
	if json.Unmarshal(body, &one) != nil {
		var arr []status
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return
		}
		one = arr[0]
	}
	for _, d := range one.Error.Details {
		if !strings.HasSuffix(d.Type, "google.rpc.QuotaFailure") {
			continue
		}
		for _, v := range d.Violations {
			id, metric := strings.ToLower(v.QuotaID), strings.ToLower(v.QuotaMetric)
			if !strings.Contains(id, "inputtoken") && !strings.Contains(metric, "input_token") || !strings.Contains(id, "perminute") {
				continue
			}
			n, err := strconv.ParseInt(v.QuotaValue, 10, 64)
			if err != nil || n <= 0 {
				continue
			}
			w.mu.Lock()
			w.limit = n
			w.roll(now)
			w.used = max(w.used, n) // spent until the minute ends
			w.mu.Unlock()
		}
	}
}
