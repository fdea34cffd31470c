package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Defaults of the bounds on how long a request may hold a key and a
// connection: none is off unless an option turns it off.
const (
	// DefaultUpstreamHeaderTimeout bounds the wait for the upstream's
	// answer headers, as nginx's proxy_read_timeout does.
	DefaultUpstreamHeaderTimeout = 60 * time.Second
	// DefaultStreamIdleTimeout bounds a pause of the upstream within an
	// answer's body: longer than the header's, as a model may think
	// between two events.
	DefaultStreamIdleTimeout = 2 * time.Minute
	// DefaultWriteTimeout bounds each write to the client, as nginx's
	// send_timeout does.
	DefaultWriteTimeout = 60 * time.Second
)

// limits bound how long one request may wait on the upstream or the
// client; zero is no bound.
type limits struct {
	upstreamHeader time.Duration
	streamIdle     time.Duration
	write          time.Duration
	body           time.Duration // a request body, whole (bodylimits.go)
	maxBuffered    int64         // bytes of request bodies held at once; 0: no bound
}

func defaultLimits() limits {
	return limits{upstreamHeader: DefaultUpstreamHeaderTimeout, streamIdle: DefaultStreamIdleTimeout, write: DefaultWriteTimeout,
		body: DefaultBodyTimeout, maxBuffered: DefaultMaxBufferedBytes}
}

// WithUpstreamHeaderTimeout bounds the time from the end of a request's
// body to the upstream's answer headers, the wait for a key and the
// resends with other keys included (default
// [DefaultUpstreamHeaderTimeout]; 0: no bound). Past it the request is given up on, its key rests as after any
// request given up on, and the client gets 504. Raise it for answers that
// are not streamed and take long to make.
func WithUpstreamHeaderTimeout(d time.Duration) Option {
	return func(c *config) { c.limits.upstreamHeader = max(d, 0) }
}

// WithStreamIdleTimeout bounds how long the upstream may send nothing
// while an answer's body is read (default [DefaultStreamIdleTimeout]; 0:
// no bound). Past it the answer is cut, the client's connection closed, and
// the key rests as after any answer given up on. Time spent waiting for the
// client to take what was sent does not count ([WithWriteTimeout] bounds
// that).
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(c *config) { c.limits.streamIdle = max(d, 0) }
}

// WithWriteTimeout bounds each write of an answer to the client (default
// [DefaultWriteTimeout]; 0: no bound): the connection's write deadline is
// pushed back before each chunk, so that a stream lasts as long as the
// client reads it, and a client that stops reading has its answer cut and
// frees the key. It takes the place of [http.Server.WriteTimeout] for the
// handler's answers. An upgraded connection (101) has no deadline.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.limits.write = max(d, 0) }
}

// errHeaderTimeout says the upstream sent no answer headers in time.
var errHeaderTimeout = errors.New("proxy: the upstream sent no answer in time")

// errStreamStalled says the upstream paused an answer's body too long.
var errStreamStalled = errors.New("proxy: the upstream stalled mid-answer")

// exchangeKey is the context key of the exchange a request belongs to,
// for the watched transport.
type exchangeKey struct{}

// watched is a mount's transport behind the handler's upstream bounds.
type watched struct {
	rt     http.RoundTripper
	limits *limits
}

// RoundTrip sends req with rt, giving it up with errHeaderTimeout when no
// answer came in time, and hands back a body that is cut when the
// upstream pauses too long.
//
// The request's context ends at the latest with the client's request,
// when the handler returns (an upgraded connection's session included),
// or when the body handed back is closed.
func (wt watched) RoundTrip(req *http.Request) (*http.Response, error) {
	lim := wt.limits
	if lim.upstreamHeader <= 0 && lim.streamIdle <= 0 {
		return wt.rt.RoundTrip(req)
	}
	// One allocation, one timer: for the header, then for each read.
	b := &stallBody{idle: lim.streamIdle, header: lim.upstreamHeader}
	b.x, _ = req.Context().Value(exchangeKey{}).(*exchange)
	var ctx context.Context
	ctx, b.cancel = context.WithCancelCause(req.Context())
	b.timer = time.AfterFunc(time.Hour, b.fire)
	b.timer.Stop()
	if lim.upstreamHeader > 0 {
		if b.x != nil && b.x.lw.body != nil && !b.x.lw.body.eof.Load() {
			// The wait begins once the client has sent its body, which
			// the transport reads first, whatever its pace.
			b.x.lw.body.sent = b
		} else {
			b.armHeader()
		}
	}
	resp, err := wt.rt.RoundTrip(req.WithContext(ctx))
	if !b.timer.Stop() && b.fired.Load() {
		// Too late: the request was given up on (the transport rests its
		// key), whatever it returned since.
		if err == nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("%w (%v)", errHeaderTimeout, lim.upstreamHeader)
	}
	if err != nil || lim.streamIdle <= 0 || resp.StatusCode == http.StatusSwitchingProtocols ||
		resp.Body == nil || resp.Body == http.NoBody {
		// An upgraded connection's body must stay the transport's own.
		return resp, err
	}
	b.rc = resp.Body
	b.inBody.Store(true)
	resp.Body = b
	return resp, nil
}

// stallBody is an answer's body each read of which must get bytes from
// the upstream within idle; past it the request is cancelled, which fails
// the read. Its timer bounds the wait for the answer's header first.
type stallBody struct {
	rc     io.ReadCloser
	idle   time.Duration
	header time.Duration
	timer  *time.Timer
	inBody atomic.Bool // the header came: the timer bounds reads
	fired  atomic.Bool
	x      *exchange // nil: none (a transport used without the handler)
	cancel context.CancelCauseFunc
}

// armHeader starts the wait for the answer's header.
func (b *stallBody) armHeader() { b.timer.Reset(b.header) }

// fire gives the request up: no header, or no byte of the body, in time.
func (b *stallBody) fire() {
	b.fired.Store(true)
	if b.inBody.Load() {
		b.cancel(errStreamStalled)
		return
	}
	b.cancel(errHeaderTimeout)
}

func (b *stallBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && b.fired.Load() {
		if b.x != nil && b.x.lw.note == "" {
			b.x.lw.note = "upstream stalled"
		}
		return n, fmt.Errorf("%w: nothing for %v", errStreamStalled, b.idle)
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil) // done with
	return err
}

// extendWrite pushes the connection's write deadline back by the write
// timeout, before a write.
func (w *logWriter) extendWrite() {
	if w.writeTimeout > 0 {
		w.rc.SetWriteDeadline(time.Now().Add(w.writeTimeout)) // fails only where it cannot be
	}
}

// wrote notes a failed write: past the write deadline, the client was
// not reading.
func (w *logWriter) wrote(err error) {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && w.note == "" {
		w.note = "client not reading"
	}
}

// Hijack hands over the connection for an upgraded session (101), which
// lasts as long as both ends keep it: without the deadlines of the answer.
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.rc.Hijack()
	if err == nil {
		c.SetDeadline(time.Time{})
	}
	return c, brw, err
}

// beforeHeader runs before the answer's header is written: an answer
// given to a request whose body was announced and not read closes the
// connection and does not wait for that body. Else net/http would read
// what is left of it first, without a deadline, and a client announcing a
// body it never sends would hold the connection for ever.
func (w *logWriter) beforeHeader() {
	if w.bodyAnnounced && (w.body == nil || !w.body.eof.Load()) {
		refuseBody(w.ResponseWriter, &w.rc)
	}
}

// refuseBody makes the server close the connection after the answer
// written to w, without reading what is left of the request's body.
func refuseBody(w http.ResponseWriter, rc *http.ResponseController) {
	w.Header().Set("Connection", "close")
	// What net/http would read of the body after the answer fails at once.
	rc.SetReadDeadline(time.Unix(1, 0))
}

// goneNote is the access log's note for a request whose context ended:
// the server cut it at shutdown (its base context cancelled with cause
// [http.ErrServerClosed]), or the client went away.
func goneNote(ctx context.Context) string {
	if errors.Is(context.Cause(ctx), http.ErrServerClosed) {
		return "cut at shutdown"
	}
	return "client gone"
}
