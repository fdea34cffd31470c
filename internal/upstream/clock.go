package upstream

import (
	"strings"
	"time"
	_ "time/tzdata" // NextPacificMidnight must work on hosts without zoneinfo.
)

// pacific is where Gemini's daily quotas reset. It is set once at package
// initialisation and never changed.
var pacific = loadPacific()

func loadPacific() *time.Location {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		// Unreachable with time/tzdata embedded, unless $ZONEINFO points
		// at a broken archive; standard time is the least wrong guess.
		return time.FixedZone("PST", -8*60*60)
	}
	return loc
}

// NextPacificMidnight returns the first 00:00 in America/Los_Angeles strictly
// after now, when Gemini's per-day quotas reset. It honours daylight saving
// time and does not depend on time.Local or on the host's zoneinfo. The
// result is in the America/Los_Angeles location.
func NextPacificMidnight(now time.Time) time.Time {
	y, m, d := now.In(pacific).Date()
	// Midnight always exists in Los Angeles (the switch is at 02:00), and
	// time.Date normalises day 32 and friends.
	return time.Date(y, m, d+1, 0, 0, 0, 0, pacific)
}

// PacificDayStart returns the 00:00 in America/Los_Angeles that began now's
// day there (now itself at midnight), whatever the day's length (23 or 25
// hours when daylight saving time starts or ends).
func PacificDayStart(now time.Time) time.Time {
	y, m, d := now.In(pacific).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, pacific)
}

// NextMonthUTC returns 00:00 UTC on the first day of the month after now's
// month in UTC, when Hugging Face's monthly credits are renewed.
func NextMonthUTC(now time.Time) time.Time {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

// ParseProtoDuration parses the JSON form of a google.protobuf.Duration:
// an optional "-", decimal seconds with an optional fraction, and a
// trailing "s", e.g. "45.837906927s", "5s", "0.5s". It reports false for
// anything else, including values out of time.Duration's range.
func ParseProtoDuration(s string) (time.Duration, bool) {
	if _, ok := protoDurationSyntax(s); !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return d, true
}

// protoDurationSyntax reports whether s has the form ParseProtoDuration
// accepts, and whether it is negative.
func protoDurationSyntax(s string) (neg, ok bool) {
	num, ok := strings.CutSuffix(s, "s")
	num, neg = strings.CutPrefix(num, "-")
	if !ok || num == "" || num == "." {
		return false, false
	}
	dot := false
	for i := 0; i < len(num); i++ {
		switch c := num[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false, false
		}
	}
	return neg, true
}
