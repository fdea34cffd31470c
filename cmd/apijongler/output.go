package main

import (
	"bytes"
	"io"
	"slices"
	"sync"

	"golang.org/x/term"

	"github.com/api-jongler/jongler"
)

// redacted replaces a key value wherever it would be printed.
const redacted = "[redacted]"

// minSecret is the shortest key value that is redacted: shorter ones would
// mangle ordinary text, and no real API key is that short.
const minSecret = 8

// redactor writes to w with every known key value replaced by [redacted].
// The core never logs nor returns a key value; this is the second line of
// defence, for instance against an upstream that echoes the request. It
// holds back only a tail that could be the start of a key value, so that
// output still streams line by line; Flush writes that tail.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte // longest first
	pending []byte
}

func newRedactor(w io.Writer) *redactor { return &redactor{w: w} }

// addKeys adds the values of keys to those redacted.
func (r *redactor) addKeys(keys []jongler.Key) {
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = k.Value
	}
	r.addSecrets(vals)
}

// addSecrets adds texts to those redacted.
func (r *redactor) addSecrets(texts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range texts {
		if len(v) >= minSecret && !slices.ContainsFunc(r.secrets, func(s []byte) bool { return string(s) == v }) {
			r.secrets = append(r.secrets, []byte(v))
		}
	}
	slices.SortFunc(r.secrets, func(a, b []byte) int { return len(b) - len(a) })
}

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.secrets) == 0 {
		return r.w.Write(p)
	}
	buf := p // written as is, unless changed: ReplaceAll makes a copy
	if len(r.pending) > 0 {
		buf = append(r.pending, p...)
	}
	for _, s := range r.secrets {
		// ReplaceAll copies buf even when s is not in it: every line
		// of serve's access log, for every key.
		if bytes.Contains(buf, s) {
			buf = bytes.ReplaceAll(buf, s, []byte(redacted))
		}
	}
	keep := r.partialTail(buf)
	if _, err := r.w.Write(buf[:len(buf)-keep]); err != nil {
		r.pending = nil
		return 0, err
	}
	r.pending = append([]byte(nil), buf[len(buf)-keep:]...)
	return len(p), nil
}

// partialTail returns the length of the longest tail of buf that is the
// beginning of a key value.
func (r *redactor) partialTail(buf []byte) int {
	longest := 0
	for _, s := range r.secrets {
		// The leftmost start of a tail that begins s gives the longest;
		// only where buf has s's first byte can one start.
		for i := len(buf) - min(len(s)-1, len(buf)); i < len(buf)-longest; i++ {
			j := bytes.IndexByte(buf[i:len(buf)-longest], s[0])
			if j < 0 {
				break
			}
			if i += j; bytes.HasPrefix(s, buf[i:]) {
				longest = len(buf) - i
				break
			}
		}
	}
	return longest
}

// Flush writes what was held back.
func (r *redactor) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		r.w.Write(r.pending)
		r.pending = nil
	}
}

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
