package jongler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/api-jongler/jongler/internal/errshape"
	"github.com/api-jongler/jongler/internal/reqinfo"
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

// noKey returns what send returns when no key can serve req: the last
// upstream refusal if there is one, else err, or its answer with
// [WithNoKeyAnswer].
func (t *Transport) noKey(req *http.Request, last *http.Response, err error) (*http.Response, error) {
	reqinfo.FromContext(req.Context()).NoKey()
	var nk *NoKeyError
	errors.As(err, &nk)
	if last != nil {
		if nk != nil && nk.RetryAfter > 0 && last.Header.Get("Retry-After") == "" {
			last.Header.Set("Retry-After", errshape.RetryAfterSeconds(nk.RetryAfter))
		}
		return last, nil
	}
	if !t.noKeyAnswer || nk == nil {
		return nil, err
	}
	status := http.StatusTooManyRequests
	if nk.RetryAfter <= 0 {
		status = http.StatusServiceUnavailable
	}
	msg := strings.TrimPrefix(nk.Error(), "jongler: ")
	body := errshape.Body(errshape.For(t.connector.Policy, req.URL.Path), status, msg, nk.RetryAfter)
	h := http.Header{
		"Content-Type":   {"application/json; charset=UTF-8"},
		"Content-Length": {strconv.Itoa(len(body))},
	}
	if nk.RetryAfter > 0 {
		h.Set("Retry-After", errshape.RetryAfterSeconds(nk.RetryAfter))
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}
