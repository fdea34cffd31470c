package jongler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/redact"
)

// leased is a lease with the key it grants. It is also the body of the
// answer sent with it (see Transport.send), which ends the lease when read
// to its end or closed: one object for both.
type leased struct {
	Lease
	key      Key
	ring     *keyring
	released atomic.Bool
	ctx      context.Context // the request's, for the store's release
	stop     func()          // ends the watch on the lease's loss; nil if none
	wctx     context.Context // the context watch returned; nil if none
	end      leaseEnd        // how the lease ends once handed off with an answer
	answer   Answer          // the answer shown to the policy by classifySuccess
	noCancel noCancel        // ctx without its cancellation, for the store's release
	// onLost is the answer's body or upgraded connection, closed if the
	// store loses the lease (see closeOnLoss); set before armed.
	onLost   io.Closer
	armed    atomic.Bool
	lostShut atomic.Bool
}

// noCancel is a context that is never cancelled and has no deadline, with
// the values of the one it wraps, as context.WithoutCancel returns; it
// lives in a leased, so that releasing allocates nothing.
type noCancel struct{ context.Context }

func (noCancel) Deadline() (time.Time, bool) { return time.Time{}, false }
func (noCancel) Done() <-chan struct{}       { return nil }
func (noCancel) Err() error                  { return nil }

// Value is the wrapped context's, except for the key the context package
// finds a context's cancellation by (a *int), asked of context.Cause and
// context.AfterFunc: for it, and any other *int key, the answer is
// context.WithoutCancel's.
func (c noCancel) Value(key any) any {
	if _, ok := key.(*int); ok {
		return context.WithoutCancel(c.Context).Value(key)
	}
	return c.Context.Value(key)
}

// lost reports whether the store lost the lease while its request ran.
func (l *leased) lost() bool {
	return l.wctx != nil && errors.Is(context.Cause(l.wctx), ErrLeaseLost)
}

// watch returns the context to send the request with: ctx, cancelled with
// cause ErrLeaseLost if the store loses the lease before it is released.
func (l *leased) watch(ctx context.Context) context.Context {
	lost := l.Lost()
	if lost == nil {
		return ctx
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-lost:
			cancel(ErrLeaseLost)
			l.shutLost()
		case <-done:
		}
	}()
	l.stop = func() { close(done); cancel(nil) }
	l.wctx = wctx
	return wctx
}

// closeOnLoss has c, the answer's body or upgraded connection, closed as
// soon as the store loses the lease: the request's context is cancelled
// then, but an upgraded connection no longer follows it (net/http hands
// it over detached), nor need a body of a base transport that ignores
// contexts. Another holder may be using the key by then; the session must
// not go on beside it. c is the base transport's, never the wrapper
// handed to the caller, so that the wrapper can still become unreachable.
func (l *leased) closeOnLoss(c io.Closer) {
	if l.wctx == nil {
		return // the store's leases cannot be lost
	}
	l.onLost = c
	l.armed.Store(true)
	if l.lost() {
		l.shutLost() // lost before the answer came out
	}
}

// shutLost closes what closeOnLoss was given, once, if it was given
// something yet.
func (l *leased) shutLost() {
	if l.armed.Load() && !l.lostShut.Swap(true) {
		l.onLost.Close()
	}
}

// release gives the lease back and wakes one of this process's waiters.
func (l *leased) release() {
	if l.released.Swap(true) {
		return
	}
	if l.stop != nil {
		l.stop()
	}
	r := l.ring
	l.noCancel.Context = l.ctx
	if err := l.Lease.Release(&l.noCancel); err != nil {
		r.logger.Warn("jongler: release lease", "connector", r.connector, "key", l.key.Name, "err", err)
	}
	r.tel.released(l.key.Name)
	r.releases.Add(1)
	r.waits.wakeOne(0)
}

// releaseAfter gives the lease back after d, in which the key stays
// leased: its last request may still be in flight upstream.
func (l *leased) releaseAfter(d time.Duration) {
	if d <= 0 {
		l.release()
		return
	}
	r := &l.ring.rests
	g := r.add()
	time.AfterFunc(d, func() {
		l.release()
		r.done(g)
	})
}

// A lease handed to the caller with an answer ends when the answer is done
// with, and never later than the answer's body becomes unreachable:
//
//   - an answer with nothing to stream (HEAD, 204, 304, an empty body)
//     ends it at once (handOff);
//   - a body read to its end (EOF, or every byte its Content-Length
//     announced) ends it at once;
//   - a body closed before that was abandoned mid-way: the upstream may
//     still be serving it until it sees the connection go, so the key stays
//     leased for deadHolderRest more, as after a dead holder, in every
//     process sharing the store;
//   - a body never closed ends it, with a warning naming the request, when
//     the garbage collector finds the body unreachable (a cleanup);
//   - a 101 Switching Protocols answer's upgraded connection holds it until
//     closed.
//
// A request given up on before any answer came (send, in transport.go)
// rests its key likewise: the upstream may be serving it still.

// handOff returns resp for the caller, with l's lease tied to its body (see
// above). req is the caller's request, named in the warning of a body
// never closed.
//
// The answer returned is a copy: the base transport may keep the one it
// made (net/http's connection reader does, until its body is done), and
// the wrapped body must be reachable from the caller alone, so that its
// cleanup runs when the caller drops it.
func (t *Transport) handOff(req *http.Request, resp *http.Response, l *leased, red redact.Redactor) *http.Response {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
			out := new(http.Response)
			*out = *resp
			out.Body = newUpgradeBody(rwc, newLeaseEnd(rwc, l, t.abandonRest, req, red))
			l.closeOnLoss(rwc)
			if red.Bodies {
				out.Body = redact.NewConn(out.Body.(io.ReadWriteCloser), red)
			}
			return out
		}
	}
	if noBody(req, resp) {
		if resp.Body != nil && resp.Body != http.NoBody {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			red.Header(resp.Trailer) // there if the body came to its end
		}
		out := new(http.Response)
		*out = *resp
		out.Body = http.NoBody
		l.release()
		return out
	}
	// The copy lives in the body's allocation: the caller holds both or
	// neither.
	b := newLeaseBody(resp.Body, resp.ContentLength, newLeaseEnd(resp.Body, l, t.abandonRest, req, red))
	l.closeOnLoss(resp.Body)
	b.src = resp
	b.out = *resp
	b.out.Body = b
	if red.Bodies && !b.redactWhole(red) { // the proxy's client (lease_whole.go)
		b.out.Body, b.out.ContentLength = redact.NewReader(b, red), -1
		b.out.Header.Del("Content-Length")
	}
	return &b.out
}

// noBody reports whether resp, the answer to req, has no body to stream.
func noBody(req *http.Request, resp *http.Response) bool {
	switch {
	case req.Method == http.MethodHead,
		resp.StatusCode == http.StatusNoContent,
		resp.StatusCode == http.StatusNotModified,
		resp.Body == nil,
		resp.Body == http.NoBody,
		resp.ContentLength == 0:
		return true
	}
	return false
}

// leaseEnd is what ends a lease handed off with a body: shared by the body
// and its cleanup, it never refers to the body itself, so that the body can
// become unreachable.
type leaseEnd struct {
	rc   io.Closer
	l    *leased
	rest time.Duration
	req  *http.Request // the caller's, named in the warning
	red  redact.Redactor
	done atomic.Bool
}

// finish ends the lease: at once if the answer was read to its end, else
// after rest.
func (e *leaseEnd) finish() {
	if e.done.Load() || e.rest <= 0 {
		e.l.release()
		return
	}
	e.l.releaseAfter(e.rest)
}

// lostErr says why an answer was cut: the lease lapsed (its holder paused
// past the store's TTL, or the store could not be reached for as long),
// and the key may serve another request.
func (e *leaseEnd) lostErr() error {
	return fmt.Errorf("jongler: %s: key %s: %w", e.l.ring.connector, e.l.key.Name, ErrLeaseLost)
}

// unreachable is the cleanup of a body the caller dropped without closing.
func unreachable(e *leaseEnd) {
	e.rc.Close()
	if e.done.Load() {
		return // read to its end: the lease ended then
	}
	// Method and path only (never the query), with the key replaced
	// should the caller have put it there.
	request := e.red.Replace(e.req.Method + " " + e.req.URL.EscapedPath())
	e.l.ring.logger.Warn("jongler: an answer's body was never closed; its lease ended when it was garbage collected (close every response body)",
		"connector", e.l.ring.connector, "request", request, "key", e.l.key.Name)
	e.finish()
}

// newLeaseEnd returns l's end, set up: it lives in l, which is allocated
// anyway, and refers to no body.
func newLeaseEnd(rc io.Closer, l *leased, rest time.Duration, req *http.Request, red redact.Redactor) *leaseEnd {
	e := &l.end
	e.rc, e.l, e.rest, e.req, e.red = rc, l, rest, req, red
	return e
}

// leaseBody holds a key's lease until the body is read to its end or
// closed.
type leaseBody struct {
	rc      io.ReadCloser
	left    int64 // bytes still due by Content-Length; negative if unknown
	end     *leaseEnd
	cleanup runtime.Cleanup
	closed  atomic.Bool
	// src is the answer the base transport made, out the copy handed to
	// the caller: trailers the base sets on src only at the body's end
	// (undeclared ones) are passed on to out then, key replaced. Neither
	// refers back to src, so that net/http, which keeps src, keeps no
	// lease alive.
	src *http.Response
	out http.Response
}

func newLeaseBody(rc io.ReadCloser, length int64, end *leaseEnd) *leaseBody {
	b := &leaseBody{rc: rc, left: length, end: end}
	b.cleanup = runtime.AddCleanup(b, unreachable, b.end)
	return b
}

func (b *leaseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.left >= 0 {
		b.left -= int64(n)
	}
	if err == io.EOF || b.left == 0 {
		// Every byte is here: the upstream is done with the request.
		b.end.done.Store(true)
		b.end.l.release()
	} else if err != nil && b.end.l.lost() {
		err = b.end.lostErr()
	}
	if err == io.EOF && b.src != nil && b.src.Trailer != nil {
		// The base sets them at the body's end, declared or not (net/http
		// does over HTTP/1.1 as over HTTP/2): the key is replaced in them
		// now, before the caller can look.
		b.end.red.Header(b.src.Trailer)
		b.out.Trailer = b.src.Trailer
	}
	return n, err
}

func (b *leaseBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cleanup.Stop()
	err := b.rc.Close()
	b.end.finish()
	return err
}

// upgradeBody is the connection of a 101 Switching Protocols answer: the
// upgraded session is a request in flight until the caller closes it.
type upgradeBody struct {
	rwc     io.ReadWriteCloser
	end     *leaseEnd
	cleanup runtime.Cleanup
	closed  atomic.Bool
}

func newUpgradeBody(rwc io.ReadWriteCloser, end *leaseEnd) *upgradeBody {
	b := &upgradeBody{rwc: rwc, end: end}
	b.cleanup = runtime.AddCleanup(b, unreachable, b.end)
	return b
}

func (b *upgradeBody) Read(p []byte) (int, error) {
	n, err := b.rwc.Read(p)
	if err == io.EOF {
		b.end.done.Store(true) // the upstream closed the session
	}
	if err != nil && b.end.l.lost() {
		err = b.end.lostErr() // closed by closeOnLoss
	}
	return n, err
}

func (b *upgradeBody) Write(p []byte) (int, error) { return b.rwc.Write(p) }

func (b *upgradeBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cleanup.Stop()
	err := b.rwc.Close()
	b.end.finish()
	return err
}
