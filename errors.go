package jongler

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoKeys is matched, with [errors.Is], by the error a [Transport] returns
// when every key is cooling down or refused. The error is a *[NoKeyError]
// that says when a key will be back.
var ErrNoKeys = errors.New("jongler: no API key available")

// ErrLeaseLost is matched by the error of a request whose key's lease the
// [Store] lost while the request ran (a networked store's lease expired
// unrenewed, say, after a long pause): the request was cancelled, since
// another process may be using the key now.
var ErrLeaseLost = errors.New("jongler: the key's lease was lost")

// NoKeyError reports that no key can serve a request now.
type NoKeyError struct {
	// Connector names the connector whose keys are all held back.
	Connector string
	// Model is the model asked for, if the request named one.
	Model string
	// RetryAfter is how long until the earliest key comes back; zero when
	// every key is refused for good.
	RetryAfter time.Duration
}

// Error says when a key will be back, or that none will.
func (e *NoKeyError) Error() string {
	what := e.Connector
	if e.Model != "" {
		what += " (model " + e.Model + ")"
	}
	if e.RetryAfter <= 0 {
		return fmt.Sprintf("jongler: no API key available for %s: every key is refused; check them, then run cleanup", what)
	}
	return fmt.Sprintf("jongler: no API key available for %s: all cooling down; the first is back in %s", what, e.RetryAfter.Round(time.Millisecond))
}

// Is reports whether target is [ErrNoKeys].
func (e *NoKeyError) Is(target error) bool { return target == ErrNoKeys }
