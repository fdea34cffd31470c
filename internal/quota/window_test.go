package quota

import (
	"testing"
	"time"
)

// TestDayWindowAroundDST: the day window is the Pacific calendar day
// holding now, on the days of 23 and 25 hours and on the days after them.
func TestDayWindowAroundDST(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct{ now, start, end time.Time }{
		// 2026-03-08 has 23 hours, 2026-11-01 has 25.
		{time.Date(2026, 3, 8, 0, 30, 0, 0, la), time.Date(2026, 3, 8, 0, 0, 0, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la)},
		{time.Date(2026, 3, 8, 23, 30, 0, 0, la), time.Date(2026, 3, 8, 0, 0, 0, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la)},
		{time.Date(2026, 3, 9, 0, 0, 0, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la), time.Date(2026, 3, 10, 0, 0, 0, 0, la)},
		{time.Date(2026, 3, 9, 0, 30, 0, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la), time.Date(2026, 3, 10, 0, 0, 0, 0, la)},
		{time.Date(2026, 3, 9, 0, 59, 59, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la), time.Date(2026, 3, 10, 0, 0, 0, 0, la)},
		{time.Date(2026, 11, 1, 0, 30, 0, 0, la), time.Date(2026, 11, 1, 0, 0, 0, 0, la), time.Date(2026, 11, 2, 0, 0, 0, 0, la)},
		{time.Date(2026, 11, 1, 23, 30, 0, 0, la), time.Date(2026, 11, 1, 0, 0, 0, 0, la), time.Date(2026, 11, 2, 0, 0, 0, 0, la)},
		{time.Date(2026, 11, 2, 0, 30, 0, 0, la), time.Date(2026, 11, 2, 0, 0, 0, 0, la), time.Date(2026, 11, 3, 0, 0, 0, 0, la)},
	} {
		for _, now := range []time.Time{tc.now, tc.now.UTC()} {
			w := WindowsAt(now)
			if !w.DayStart.Equal(tc.start) || !w.DayEnd.Equal(tc.end) {
				t.Errorf("at %v: day window %v to %v, want %v to %v", now, w.DayStart, w.DayEnd, tc.start, tc.end)
			}
		}
	}
}
