package upstream

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// lowerASCII returns s with ASCII letters lowered and every other byte kept,
// so that byte offsets in the result are offsets in s. (strings.ToLower
// rewrites invalid UTF-8 and some runes to different lengths.)
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// containsAny reports whether s contains one of the needles.
func containsAny(s string, needles ...string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// period is the window a quota counts over.
type period int

const (
	periodUnknown period = iota
	periodMinute
	periodDay
)

// Spellings of the quota windows, lower case: in quota IDs
// ("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), metrics
// ("..._per_minute") and prose ("requests per day").
var (
	daySpellings    = [...]string{"perday", "per_day", "per day", "per-day", "daily"}
	minuteSpellings = [...]string{"perminute", "per_minute", "per minute", "per-minute"}
)

// periodOf tells the window of a quota from an identifier or text, ignoring
// case. Day wins when both appear, being the more restrictive.
func periodOf(s string) period {
	var buf [maxIdent]byte
	if len(s) > len(buf) {
		return periodOfLower(lowerASCII(s))
	}
	// Lower short identifiers on the stack: this runs for every violation.
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	for _, w := range daySpellings {
		if bytes.Contains(b, []byte(w)) {
			return periodDay
		}
	}
	for _, w := range minuteSpellings {
		if bytes.Contains(b, []byte(w)) {
			return periodMinute
		}
	}
	return periodUnknown
}

// periodOfLower is periodOf for text already lowered with lowerASCII.
func periodOfLower(s string) period {
	switch {
	case containsAny(s, daySpellings[:]...):
		return periodDay
	case containsAny(s, minuteSpellings[:]...):
		return periodMinute
	}
	return periodUnknown
}

// Limits on what is copied from a body into an Answer.
const (
	maxIdent = 128 // QuotaID, reason codes, status names
	maxModel = 200 // Hugging Face repo ids are up to 96+1+96
)

// ident returns s if it looks like an identifier a service would emit
// (quota IDs, metrics, reason and status codes), else "".
func ident(s string) string {
	if len(s) == 0 || len(s) > maxIdent {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '/') {
			return ""
		}
	}
	return s
}

// modelName cleans a model name taken from a body: it strips a "models/"
// prefix and returns "" unless the rest looks like a model or repo id.
func modelName(s string) string {
	s = strings.TrimPrefix(s, "models/")
	if len(s) == 0 || len(s) > maxModel {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '/' || c == ':') {
			return ""
		}
	}
	if s[0] == '.' || s[0] == '/' || s[0] == '-' {
		return ""
	}
	return s
}

// word returns the leading run of s up to a space, comma, semicolon,
// quote, bracket or line end, with a trailing sentence dot removed.
func word(s string) string {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t\r\n,;\"'`()[]{}<>"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, ".")
}

// clampDelay keeps d in [0, MaxDelay].
func clampDelay(d time.Duration) time.Duration {
	return min(max(d, 0), MaxDelay)
}

// secondsDelay converts a number of seconds from a body into a Delay.
func secondsDelay(sec float64) time.Duration {
	if math.IsNaN(sec) || sec <= 0 {
		return 0
	}
	if sec >= MaxDelay.Seconds() {
		return MaxDelay
	}
	return time.Duration(sec * float64(time.Second))
}

// retryHint finds a delay in a lowered message: "Please retry in
// 39.006833842s.", "retry after 2m", "try again in 30 seconds".
func retryHint(lower string) (time.Duration, bool) {
	for _, p := range [...]string{"retry in ", "retry after ", "try again in ", "try again after "} {
		i := strings.Index(lower, p)
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(lower[i+len(p):], " \t")
		w := word(rest)
		if d, err := time.ParseDuration(w); err == nil {
			return clampDelay(d), true
		}
		// "30 seconds", "1.5 min", or a number too large for ParseDuration.
		n := strings.IndexFunc(w, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if n < 0 {
			n = len(w)
		}
		sec, err := strconv.ParseFloat(w[:n], 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			continue
		}
		unit := w[n:]
		if unit == "" {
			unit = word(rest[len(w):])
		}
		switch {
		case unit == "ms", strings.HasPrefix(unit, "milli"):
			sec /= 1000
		case unit == "s", strings.HasPrefix(unit, "sec"):
		case unit == "m", strings.HasPrefix(unit, "min"):
			sec *= 60
		case unit == "h", strings.HasPrefix(unit, "hour"):
			sec *= 3600
		default:
			continue
		}
		return secondsDelay(sec), true
	}
	return 0, false
}

// limitValue reports the integer limit of a quota value such as "0" or
// "250000" (JSON string or number), and whether there was one.
func limitValue(s string) (int64, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
