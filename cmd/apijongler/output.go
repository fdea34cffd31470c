package main

import (
	"io"

	"golang.org/x/term"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redact"
)

// redacted replaces a key value wherever it would be printed.
const redacted = redact.Mask

// redactor writes to its writer with every known key value replaced by
// [redacted] (see redact.Writer): the second line of defence, for
// instance against an upstream that echoes the request.
type redactor struct{ *redact.Writer }

func newRedactor(w io.Writer) *redactor { return &redactor{redact.NewWriter(w)} }

// addKeys adds the values of keys to those redacted.
func (r *redactor) addKeys(keys []jongler.Key) {
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = k.Value
	}
	r.Add(vals...)
}

// addSecrets adds texts to those redacted.
func (r *redactor) addSecrets(texts []string) { r.Add(texts...) }

// colorEnabled reports whether to colour what goes to w: only when w is a
// terminal, NO_COLOR is unset or empty (https://no-color.org) and TERM is
// not "dumb".
func colorEnabled(w io.Writer, lookupEnv func(string) (string, bool)) bool {
	if v, ok := lookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, _ := lookupEnv("TERM"); v == "dumb" {
		return false
	}
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// ANSI colours.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// paint wraps s in the colour code when colour is on.
func (a *app) paint(code, s string) string {
	if !a.color || code == "" || s == "" {
		return s
	}
	return code + s + ansiReset
}

// stateColor is the colour of a key state.
func stateColor(s jongler.KeyState) string {
	switch s {
	case jongler.StateVacant:
		return ansiGreen
	case jongler.StateLocked:
		return ansiCyan
	case jongler.StateLockdown:
		return ansiYellow
	case jongler.StateError:
		return ansiRed
	}
	return ""
}
