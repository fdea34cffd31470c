package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/cmd/internal/serving"
	"github.com/api-jongler/jongler/internal/keyfile"
)

// serveSection is the INI file's section of serve's settings, beside the
// sections of keys; no connector is called so.
const serveSection = "serve"

// limitSetting is one of serve's bounds: its flag, its name in the INI
// file's [serve] section, and where it goes.
type limitSetting struct {
	flag, name, usage string
	n                 *int           // a count, or
	d                 *time.Duration // a duration, or
	s                 *string        // a text (clients.go)
}

// limitSettings returns serve's bounds, each pointing into l.
func limitSettings(l *serving.Limits) []limitSetting {
	return []limitSetting{
		{flag: "max-conns", name: "max_conns", n: &l.Conns,
			usage: "hold `N` connections at once, from every client; more wait until one closes (default: what the process's file descriptors allow at three a connection)"},
		{flag: "max-conns-per-client", name: "max_conns_per_client", n: &l.ConnsPerClient,
			usage: "let one client address (an IPv4 address, an IPv6 /64) hold `N` connections at once; one more gets 429"},
		{flag: "upstream-header-timeout", name: "upstream_header_timeout", d: &l.UpstreamHeaderTimeout,
			usage: "answer 504 to a request the upstream has not answered after `D` (waiting for a key included), and free its key"},
		{flag: "stream-idle-timeout", name: "stream_idle_timeout", d: &l.StreamIdleTimeout,
			usage: "cut an answer whose upstream sends nothing for `D`, and rest its key"},
		{flag: "write-timeout", name: "write_timeout", d: &l.WriteTimeout,
			usage: "cut an answer whose client reads nothing for `D`, and rest its key"},
		{flag: "body-timeout", name: "body_timeout", d: &l.BodyTimeout,
			usage: "answer 408 to a request whose body is not whole `D` after its header, however it trickles"},
		{flag: "max-buffered-bytes", name: "max_buffered_bytes", n: &l.MaxBufferedBytes,
			usage: "hold at most `N` bytes of request bodies in memory at once; a request past it gets 503 with Retry-After"},
	}
}

// addLimitFlags adds the flags of serve's bounds to cmd, with their
// defaults, into l.
func addLimitFlags(cmd *cobra.Command, l *serving.Limits) {
	*l = serving.DefaultLimits()
	fl := cmd.Flags()
	for _, s := range limitSettings(l) {
		usage := s.usage + " (0: no bound; also " + s.name + " in the INI file's [" + serveSection + "])"
		if s.n != nil {
			fl.IntVar(s.n, s.flag, *s.n, usage)
		} else {
			fl.DurationVar(s.d, s.flag, *s.d, usage)
		}
	}
}

// serveLimits returns serve's bounds: each flag given, else its setting in
// the INI file's [serve] section, else its default (in flagged, as the
// flags were parsed); so too each of extra. The section is read at start;
// a SIGHUP does not change the bounds.
func (a *app) serveLimits(cmd *cobra.Command, flagged serving.Limits, extra ...limitSetting) (serving.Limits, error) {
	l := flagged
	settings := append(limitSettings(&l), extra...)
	if a.configFile() != "" {
		f, err := a.iniFile(jongler.ConnectorGemini)
		if err != nil {
			return l, err
		}
		if err := readServeSection(f, settings, cmd.Flags().Changed); err != nil {
			return l, configError(err)
		}
	}
	for _, s := range settings {
		if s.n != nil && *s.n < 0 || s.d != nil && *s.d < 0 {
			return l, usageErrorf("--%s (%s): want 0 or more", s.flag, s.name)
		}
	}
	return l, nil
}

// readServeSection sets each of settings that f's [serve] section gives,
// unless flagged says its flag was given. Messages name the setting and
// the line, never a value, nor a name long enough to be a key.
func readServeSection(f *keyfile.File, settings []limitSetting, flagged func(string) bool) error {
	entries := f.Settings(serveSection)
	var names []string
	for _, s := range settings {
		names = append(names, s.name)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		where := fmt.Sprintf("config file %s:%d: [%s]", f.Path, e.Line, serveSection)
		i := slices.IndexFunc(settings, func(s limitSetting) bool { return strings.EqualFold(s.name, e.Name) })
		if i < 0 {
			name := "a long name (not shown: it may be a key)"
			if len(e.Name) < 16 {
				name = strconv.Quote(e.Name)
			}
			return fmt.Errorf("%s: unknown setting %s; known: %s", where, name, strings.Join(names, ", "))
		}
		s := settings[i]
		if seen[s.name] || e.Count > 1 {
			return fmt.Errorf("%s: %s is given more than once", where, s.name)
		}
		seen[s.name] = true
		if flagged(s.flag) {
			continue
		}
		if s.s != nil {
			*s.s = e.Value
			continue
		}
		if s.n != nil {
			n, err := strconv.Atoi(e.Value)
			if err != nil || n < 0 {
				return fmt.Errorf("%s %s: want a whole number, 0 or more", where, s.name)
			}
			*s.n = n
			continue
		}
		d, err := time.ParseDuration(e.Value)
		if err != nil || d < 0 {
			return fmt.Errorf("%s %s: want a duration such as 90s or 2m, 0 or more", where, s.name)
		}
		*s.d = d
	}
	return nil
}

// notReady says why no key of ks can take a request now (each is in use,
// cooling down or refused), and when one is back: in how long, or -1 when
// that cannot be known (the end of a request in flight, or never).
func notReady(ks jongler.KeyStates, now time.Time) (string, time.Duration) {
	counts := fmt.Sprintf("%d cooling down, %d refused", len(ks.Lockdown), len(ks.Error))
	why := "every key is cooling down or refused (" + counts + ")"
	if len(ks.Locked) > 0 {
		why = fmt.Sprintf("every key is in use, cooling down or refused (%d in use, %s)", len(ks.Locked), counts)
	}
	back := time.Duration(-1)
	for _, n := range ks.Lockdown {
		if d := max(ks.Keys[n].Until.Sub(now), 0); back < 0 || d < back {
			back = d
		}
	}
	switch {
	case back >= 0:
		return why + fmt.Sprintf("; one is back within %ds", ceilSeconds(back)), back
	case len(ks.Locked) > 0:
		return why + "; one is back when a request in flight ends", -1
	}
	return why, -1
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
