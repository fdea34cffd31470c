package jonglertest

import (
	"net/http"
	"strconv"
	"time"
	_ "time/tzdata" // quota days end at midnight America/Los_Angeles on any host
)

// Unlimited, as a [Quota] field, means that the limit is not enforced. It is
// also what [Quota.Capacity] and [Server.Capacity] return when nothing limits
// the number of successes.
const Unlimited = -1

// Quota is the free-tier request quota of one model, counted separately for
// every Google Cloud project: all keys of a project share it.
//
// Both limits are always in force, in fixed windows of simulated time: RPM
// counts requests per minute window (aligned to whole minutes), RPD per day
// window (from midnight to midnight, America/Los_Angeles). A limit of 0 lets no
// request through (Google sends "quotaValue": "0" then); use [Unlimited] for
// no limit. Requests that are refused, for whatever reason, do not count.
type Quota struct {
	RPM int // requests per minute and project; 0 allows none, Unlimited no limit
	RPD int // requests per day and project; 0 allows none, Unlimited no limit
	// InputTPM is the input tokens per minute and project (Google's
	// GenerateContentInputTokensPerModelPerMinute), a prompt counting a
	// token per four characters of its last message; 0 (the zero value,
	// unlike RPM and RPD) means no limit. A request over it is refused
	// with a QuotaFailure naming that quota.
	InputTPM int
}

// DefaultModels returns a new map with the models a server offers when
// [Config.Models] is empty, with free-tier limits as Google published them in
// 2025 (they change often):
//
//	gemini-2.5-pro         5 RPM   100 RPD
//	gemini-2.5-flash      10 RPM   250 RPD
//	gemini-2.5-flash-lite 15 RPM  1000 RPD
//	gemini-2.0-flash      15 RPM   200 RPD
func DefaultModels() map[string]Quota {
	return map[string]Quota{
		"gemini-2.5-pro":        {RPM: 5, RPD: 100},
		"gemini-2.5-flash":      {RPM: 10, RPD: 250},
		"gemini-2.5-flash-lite": {RPM: 15, RPD: 1000},
		"gemini-2.0-flash":      {RPM: 15, RPD: 200},
	}
}

// Capacity returns the largest number of requests one project can have
// admitted in the simulated interval [from, to), starting with unused
// windows: for every Los Angeles day that the interval touches,
//
//	min(RPD, RPM × number of minute windows of that day the interval touches)
//
// summed over the days (a limit that is Unlimited drops out of the min). It
// returns [Unlimited] if neither limit is enforced, and 0 if to is not after
// from.
func (q Quota) Capacity(from, to time.Time) int {
	if !to.After(from) {
		return 0
	}
	if q.RPM < 0 && q.RPD < 0 {
		return Unlimited
	}
	la := pacific()
	total := 0
	for day := dayStart(from, la); day.Before(to); day = dayEnd(day, la) {
		lo, hi := later(from, day), earlier(to, dayEnd(day, la))
		if !hi.After(lo) {
			continue
		}
		perDay := q.RPD
		if q.RPM >= 0 {
			// Minute windows never straddle a Los Angeles midnight: the
			// zone's offsets are whole hours.
			first := lo.Truncate(time.Minute)
			last := hi.Add(-1).Truncate(time.Minute)
			byMinutes := q.RPM * (int(last.Sub(first)/time.Minute) + 1)
			if perDay < 0 || byMinutes < perDay {
				perDay = byMinutes
			}
		}
		total += perDay
	}
	return total
}

// pacific is the zone whose midnight ends a quota day.
func pacific() *time.Location {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		panic("jonglertest: time/tzdata lacks America/Los_Angeles: " + err.Error())
	}
	return loc
}

// dayStart returns the midnight in la that starts the quota day of t.
func dayStart(t time.Time, la *time.Location) time.Time {
	y, m, d := t.In(la).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, la)
}

// dayEnd returns the midnight in la that ends the quota day of t.
func dayEnd(t time.Time, la *time.Location) time.Time {
	y, m, d := t.In(la).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, la)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// windowUse is what one (project, model) has used in its current windows.
type windowUse struct {
	minute      time.Time // start of the minute window the count belongs to
	minuteCount int
	minuteInput int       // input tokens admitted in the minute window
	day         time.Time // start of the day window the count belongs to
	dayCount    int
}

// refusal describes a quota violation.
type refusal struct {
	perDay bool
	tokens bool // the input-token quota, not a request quota
	limit  int
	delay  time.Duration // simulated time until the violated window ends
}

// admit counts one request at simulated time now against u if quota q allows
// it, or else returns why not. A refused request does not count.
func (u *windowUse) admit(q Quota, now time.Time, la *time.Location, input int) *refusal {
	minute, day := now.Truncate(time.Minute), dayStart(now, la)
	if !u.minute.Equal(minute) {
		u.minute, u.minuteCount, u.minuteInput = minute, 0, 0
	}
	if !u.day.Equal(day) {
		u.day, u.dayCount = day, 0
	}
	if q.RPD >= 0 && u.dayCount >= q.RPD {
		return &refusal{perDay: true, limit: q.RPD, delay: dayEnd(now, la).Sub(now)}
	}
	if q.RPM >= 0 && u.minuteCount >= q.RPM {
		return &refusal{limit: q.RPM, delay: minute.Add(time.Minute).Sub(now)}
	}
	if q.InputTPM > 0 && u.minuteInput+input > q.InputTPM {
		return &refusal{tokens: true, limit: q.InputTPM, delay: minute.Add(time.Minute).Sub(now)}
	}
	u.minuteInput += input
	u.minuteCount++
	u.dayCount++
	return nil
}

// setRateLimitHeaders writes the windows of a (project, model) with quota
// q, as used after the request at now, in the headers of a header
// provider; see Config.RateLimitHeaders.
func (s *Server) setRateLimitHeaders(h http.Header, q Quota, u windowUse, now time.Time) {
	if q.RPM >= 0 {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(q.RPM))
		h.Set("x-ratelimit-remaining-requests", strconv.Itoa(max(q.RPM-u.minuteCount, 0)))
		h.Set("x-ratelimit-reset-requests", now.Truncate(time.Minute).Add(time.Minute).Sub(now).String())
	}
	if q.RPD >= 0 {
		h.Set("x-ratelimit-limit-requests-day", strconv.Itoa(q.RPD))
		h.Set("x-ratelimit-remaining-requests-day", strconv.Itoa(max(q.RPD-u.dayCount, 0)))
		h.Set("x-ratelimit-reset-requests-day", strconv.FormatFloat(dayEnd(now, s.la).Sub(now).Seconds(), 'f', -1, 64))
	}
}
