package proxy

import (
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// Request bodies are bounded in time as a whole, not only per read, and in
// the memory they take while they wait for a key.
//
// A client that sends one byte of its body every few seconds keeps each
// read within the idle bound for ever; the body as a whole must arrive
// within [WithBodyTimeout] of the request's header (Caddy's read_timeout
// counts the body the same way), or the client gets 408 and its
// connection is closed.
//
// The transports read a request's whole body into memory before they send
// it, to send it again with another key: forty clients each sending 30 MB
// would hold 1.2 GB. The bodies held at once are bounded by
// [WithMaxBufferedBytes]: a request whose body would pass it gets 503 with
// Retry-After, in the upstream's shape, before its body is read when its
// length is announced, or as soon as it passes the bound when it is not.

// Defaults of the bounds on request bodies.
const (
	// DefaultBodyTimeout bounds the time a request's body may take to
	// arrive, from the end of its header: room for a body of
	// [DefaultMaxBodyBytes] at 1 Mbit/s.
	DefaultBodyTimeout = 5 * time.Minute
	// DefaultMaxBufferedBytes bounds the request bodies held in memory at
	// once: eight of [DefaultMaxBodyBytes].
	DefaultMaxBufferedBytes = 8 * DefaultMaxBodyBytes
)

// WithBodyTimeout bounds the time a request's body may take to arrive
// whole, from the end of its header (default [DefaultBodyTimeout]; 0: no
// bound besides each read's idle bound). Past it the client gets 408,
// its connection is closed, and nothing goes upstream.
func WithBodyTimeout(d time.Duration) Option {
	return func(c *config) { c.limits.body = max(d, 0) }
}

// WithMaxBufferedBytes bounds the request bodies the handler holds in
// memory at once, to n bytes (default [DefaultMaxBufferedBytes]; 0: no
// bound). A request whose body would pass it gets 503 with Retry-After: 1.
// Give at least the bound of one body ([WithMaxBodyBytes]).
func WithMaxBufferedBytes(n int64) Option {
	return func(c *config) { c.limits.maxBuffered = max(n, 0) }
}

// errBuffersFull says the bodies held in memory are at their bound.
var errBuffersFull = errors.New("proxy: the request bodies held in memory are at their bound")

// byteBudget counts the bytes of request bodies held at once.
type byteBudget struct {
	max  int64 // 0: no bound
	used atomic.Int64
}

// take counts n more bytes held, and reports whether they fit.
func (b *byteBudget) take(n int64) bool {
	if b.max <= 0 || n <= 0 {
		return true
	}
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// give counts n bytes no longer held.
func (b *byteBudget) give(n int64) {
	if b.max > 0 && n > 0 {
		b.used.Add(-n)
	}
}

// countedBody is a request body whose bytes count against the budget from
// the moment they are read until release (the handler's return: the
// transport holds its copy until then).
type countedBody struct {
	io.ReadCloser
	b     *byteBudget
	taken int64 // counted so far
	read  int64
}

// newCountedBody counts body against b, all of length at once when it is
// announced (at most limit); it reports false when that does not fit.
func newCountedBody(body io.ReadCloser, b *byteBudget, length, limit int64) (*countedBody, bool) {
	c := &countedBody{ReadCloser: body, b: b}
	if length > 0 {
		n := min(length, limit)
		if !b.take(n) {
			return nil, false
		}
		c.taken = n
	}
	return c, true
}

func (c *countedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.read += int64(n)
	if over := c.read - c.taken; over > 0 {
		if !c.b.take(over) {
			return n, errBuffersFull
		}
		c.taken += over
	}
	return n, err
}

// release counts the body no longer held.
func (c *countedBody) release() { c.b.give(c.taken) }
