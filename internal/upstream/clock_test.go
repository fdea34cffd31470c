package upstream

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func utc(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
}

// Instants are given in UTC so that the expectations do not depend on the
// zone database under test. PST is UTC-8, PDT UTC-7; in 2026 DST starts on
// 8 March and ends on 1 November.
var pacificMidnightTests = []struct {
	name     string
	now      time.Time
	want     time.Time
	interval time.Duration // want - now
}{
	{"23:59:30 PST", utc(2026, 1, 16, 7, 59, 30, 0), utc(2026, 1, 16, 8, 0, 0, 0), 30 * time.Second},
	{"23:59:30 PDT", utc(2026, 7, 16, 6, 59, 30, 0), utc(2026, 7, 16, 7, 0, 0, 0), 30 * time.Second},
	{"1ns before midnight", utc(2026, 1, 16, 7, 59, 59, 999999999), utc(2026, 1, 16, 8, 0, 0, 0), time.Nanosecond},
	{"exactly midnight is not after", utc(2026, 1, 16, 8, 0, 0, 0), utc(2026, 1, 17, 8, 0, 0, 0), 24 * time.Hour},
	{"noon before spring forward", utc(2026, 3, 7, 20, 0, 0, 0), utc(2026, 3, 8, 8, 0, 0, 0), 12 * time.Hour},
	{"spring forward day is 23h", utc(2026, 3, 8, 8, 0, 0, 0), utc(2026, 3, 9, 7, 0, 0, 0), 23 * time.Hour},
	{"01:59:59 PST before the jump", utc(2026, 3, 8, 9, 59, 59, 0), utc(2026, 3, 9, 7, 0, 0, 0), 21*time.Hour + time.Second},
	{"03:30 PDT after the jump", utc(2026, 3, 8, 10, 30, 0, 0), utc(2026, 3, 9, 7, 0, 0, 0), 20*time.Hour + 30*time.Minute},
	{"fall back day is 25h", utc(2026, 11, 1, 7, 0, 0, 0), utc(2026, 11, 2, 8, 0, 0, 0), 25 * time.Hour},
	{"01:30 PDT, first time", utc(2026, 11, 1, 8, 30, 0, 0), utc(2026, 11, 2, 8, 0, 0, 0), 23*time.Hour + 30*time.Minute},
	{"01:30 PST, second time", utc(2026, 11, 1, 9, 30, 0, 0), utc(2026, 11, 2, 8, 0, 0, 0), 22*time.Hour + 30*time.Minute},
	{"UTC morning is LA evening", utc(2026, 6, 1, 6, 59, 59, 0), utc(2026, 6, 1, 7, 0, 0, 0), time.Second},
	{"new year", utc(2027, 1, 1, 7, 59, 0, 0), utc(2027, 1, 1, 8, 0, 0, 0), time.Minute},
	{"from Tokyo time", utc(2026, 3, 8, 8, 0, 0, 0).In(time.FixedZone("JST", 9*3600)), utc(2026, 3, 9, 7, 0, 0, 0), 23 * time.Hour},
	{"2025 fall back", utc(2025, 11, 2, 7, 0, 0, 0), utc(2025, 11, 3, 8, 0, 0, 0), 25 * time.Hour},
}

func TestNextPacificMidnight(t *testing.T) {
	for _, tt := range pacificMidnightTests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextPacificMidnight(tt.now)
			if !got.Equal(tt.want) {
				t.Errorf("NextPacificMidnight(%v) = %v, want %v", tt.now, got.UTC(), tt.want)
			}
			if d := got.Sub(tt.now); d != tt.interval {
				t.Errorf("interval %v, want %v", d, tt.interval)
			}
			if h, m, s := got.Clock(); h != 0 || m != 0 || s != 0 || got.Nanosecond() != 0 {
				t.Errorf("%v is not midnight in its location", got)
			}
			if name := got.Location().String(); name != "America/Los_Angeles" {
				t.Errorf("location %q", name)
			}
		})
	}
}

// TestNextPacificMidnightSweep checks the invariants over a year of instants.
func TestNextPacificMidnightSweep(t *testing.T) {
	start := utc(2026, 1, 1, 0, 0, 0, 0)
	for now := start; now.Before(start.AddDate(1, 0, 1)); now = now.Add(37*time.Minute + 11*time.Second) {
		got := NextPacificMidnight(now)
		if d := got.Sub(now); d <= 0 || d > 25*time.Hour {
			t.Fatalf("NextPacificMidnight(%v) = %v, %v away", now, got, d)
		}
		if h, m, s := got.Clock(); h != 0 || m != 0 || s != 0 {
			t.Fatalf("NextPacificMidnight(%v) = %v, not midnight", now, got)
		}
		// Nothing between now and the answer is a midnight either.
		if prev := got.AddDate(0, 0, -1); prev.After(now) {
			t.Fatalf("NextPacificMidnight(%v) = %v, but %v is earlier", now, got, prev)
		}
	}
}

// TestNextPacificMidnightWithoutTZ runs the table in a child process whose
// TZ is unset or foreign, to show the result does not depend on time.Local.
func TestNextPacificMidnightWithoutTZ(t *testing.T) {
	if os.Getenv("UPSTREAM_TZ_CHILD") == "1" {
		TestNextPacificMidnight(t)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, tz := range []string{"unset", "", "Asia/Tokyo", "UTC", "America/New_York", "Nowhere/Bogus"} {
		t.Run("TZ="+tz, func(t *testing.T) {
			env := []string{"UPSTREAM_TZ_CHILD=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "TZ=") {
					env = append(env, kv)
				}
			}
			if tz != "unset" {
				env = append(env, "TZ="+tz)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestNextPacificMidnightWithoutTZ$", "-test.v")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestNextPacificMidnightWithoutTZ") {
				t.Fatalf("child with TZ=%s: %v\n%s", tz, err, out)
			}
		})
	}
}

func TestNextMonthUTC(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		now  time.Time
		want time.Time
	}{
		{utc(2026, 1, 15, 12, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0, 0)},
		{utc(2026, 12, 31, 23, 59, 59, 999999999), utc(2027, 1, 1, 0, 0, 0, 0)},
		{utc(2026, 3, 1, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0)},                // exactly the turn: the next one
		{time.Date(2026, 1, 31, 20, 0, 0, 0, est), utc(2026, 3, 1, 0, 0, 0, 0)},   // already 1 Feb in UTC
		{time.Date(2026, 1, 31, 18, 59, 59, 0, est), utc(2026, 2, 1, 0, 0, 0, 0)}, // still 31 Jan in UTC
		{utc(2028, 2, 29, 10, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0, 0)},              // leap day
		{utc(2026, 1, 31, 10, 0, 0, 0).In(pacific), utc(2026, 2, 1, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		got := NextMonthUTC(tt.now)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("NextMonthUTC(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestParseProtoDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"45.837906927s", 45837906927, true},
		{"5s", 5 * time.Second, true},
		{"0.5s", 500 * time.Millisecond, true},
		{".5s", 500 * time.Millisecond, true},
		{"0s", 0, true},
		{"-1.5s", -1500 * time.Millisecond, true},
		{"3.000000001s", 3*time.Second + 1, true},
		{"", 0, false},
		{"s", 0, false},
		{"-s", 0, false},
		{".s", 0, false},
		{"5", 0, false},
		{"5m", 0, false},
		{"1m5s", 0, false},
		{"1h", 0, false},
		{"5 s", 0, false},
		{" 5s", 0, false},
		{"+5s", 0, false},
		{"5.5.5s", 0, false},
		{"1e3s", 0, false},
		{"--5s", 0, false},
		{"5ss", 0, false},
		{"99999999999999999999s", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseProtoDuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseProtoDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
