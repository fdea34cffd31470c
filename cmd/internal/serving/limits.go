package serving

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/api-jongler/jongler/proxy"
)

// Limits bound what one client, connection or upstream may hold of serve:
// connections, and the time each phase of a request may take. Zero turns
// a bound off.
type Limits struct {
	// Conns bounds the connections open at once, from every client: past
	// it, new ones wait in the kernel's queue until one closes, so that
	// many clients cannot take every file descriptor the process has
	// (each connection costs up to three: the client's, the upstream's and
	// a key's slot file).
	Conns int
	// ConnsPerClient bounds the connections open at once from one client
	// address (an IPv4 address, an IPv6 /64).
	ConnsPerClient int
	// UpstreamHeaderTimeout, StreamIdleTimeout and WriteTimeout are the
	// handler's (proxy.WithUpstreamHeaderTimeout and the others).
	UpstreamHeaderTimeout time.Duration
	StreamIdleTimeout     time.Duration
	WriteTimeout          time.Duration
	// BodyTimeout bounds the time a request's body may take to arrive
	// whole; MaxBufferedBytes the request bodies held in memory at once
	// (proxy.WithBodyTimeout, proxy.WithMaxBufferedBytes).
	BodyTimeout      time.Duration
	MaxBufferedBytes int
}

// DefaultConnsPerClient is room for a team behind one address (a NAT,
// an office), each with an SDK's pool of connections, and far below the
// descriptors a process may open.
const DefaultConnsPerClient = 64

// Server phases without a setting of their own, as nginx bounds them.
const (
	// readHeaderTimeout bounds the wait for a request's header once a
	// connection is open or its next request has begun.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout bounds the wait for the next request on a connection.
	idleTimeout = 2 * time.Minute
	// cutWait bounds the wait, once requests are cut at shutdown, for
	// their handlers to return (and log them).
	cutWait = 5 * time.Second
)

// DefaultLimits returns the bounds serve has unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		Conns:                 defaultConns(),
		ConnsPerClient:        DefaultConnsPerClient,
		UpstreamHeaderTimeout: proxy.DefaultUpstreamHeaderTimeout,
		StreamIdleTimeout:     proxy.DefaultStreamIdleTimeout,
		WriteTimeout:          proxy.DefaultWriteTimeout,
		BodyTimeout:           proxy.DefaultBodyTimeout,
		MaxBufferedBytes:      proxy.DefaultMaxBufferedBytes,
	}
}

// proxyOptions returns the handler's options for l.
func (l Limits) proxyOptions() []proxy.Option {
	return []proxy.Option{
		proxy.WithUpstreamHeaderTimeout(l.UpstreamHeaderTimeout),
		proxy.WithStreamIdleTimeout(l.StreamIdleTimeout),
		proxy.WithWriteTimeout(l.WriteTimeout),
		proxy.WithBodyTimeout(l.BodyTimeout),
		proxy.WithMaxBufferedBytes(int64(l.MaxBufferedBytes)),
	}
}

// Server is serve's HTTP server: every phase of a request has a deadline
// (the header, each read of a body, each write of an answer, the wait for
// the next request), connections are bounded per client address, and a
// shutdown that cuts requests says so to their handlers.
type Server struct {
	srv    *http.Server
	limits Limits
	log    *slog.Logger
	cut    context.CancelCauseFunc
	active atomic.Int64 // handlers running
}

// NewServer returns the server of h under limits, a request's header
// bounded to 64 KiB (431 past it); log gets what the server says of
// connections (at level Debug), of clients refused and of failures to
// accept (at WARN).
func NewServer(h http.Handler, limits Limits, log *slog.Logger) *Server {
	s := &Server{limits: limits, log: log}
	base, cut := context.WithCancelCause(context.Background())
	s.cut = cut
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve(h)),
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	return s
}

// serve returns h counted among the handlers running, with the write
// deadline of its connection set afresh (the one a request before left
// may have passed).
func (s *Server) serve(h http.Handler) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Add(-1)
		if d := s.limits.WriteTimeout; d > 0 {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		} else {
			http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		h.ServeHTTP(w, r)
	}
}

// Serve accepts connections on ln, at most Limits.ConnsPerClient at once
// from one client, until Shutdown; it returns http.ErrServerClosed then.
// Failures to accept are logged at WARN, once a minute at most.
func (s *Server) Serve(ln net.Listener) error {
	ln = &acceptLog{Listener: ln, log: s.log}
	if s.limits.Conns > 0 {
		ln = netutil.LimitListener(ln, s.limits.Conns)
	}
	if s.limits.ConnsPerClient > 0 {
		ln = &clientLimit{Listener: ln, max: s.limits.ConnsPerClient, log: s.log, open: map[netip.Prefix]int{}, warned: map[netip.Prefix]time.Time{}}
	}
	return s.srv.Serve(ln)
}

// Shutdown stops accepting and lets the requests in flight finish until
// ctx ends; then it cuts them, their contexts cancelled with cause
// http.ErrServerClosed (the access log says "cut at shutdown"), waits a
// moment for their handlers to return, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err == nil {
		return nil
	}
	s.cut(http.ErrServerClosed)
	s.srv.Close()
	for end := time.Now().Add(cutWait); s.active.Load() > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// NoBody returns h, which never reads a request's body, answering a
// request that announces one with the connection closed after the answer:
// net/http would otherwise wait for that body, without a deadline.
func NoBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
			// What net/http would read of the body after the answer fails
			// at once.
			http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
		}
		h.ServeHTTP(w, r)
	})
}

// tooMany is the answer to a connection over its client's bound, written
// without reading the request.
const tooMany = "HTTP/1.1 429 Too Many Requests\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 51\r\n" +
	"\r\n" +
	"apijongler: too many connections from your address\n"

// clientLimit is a listener that bounds the connections open at once from
// one client address.
type clientLimit struct {
	net.Listener
	max    int
	log    *slog.Logger
	mu     sync.Mutex
	open   map[netip.Prefix]int
	warned map[netip.Prefix]time.Time // clients refused, when last logged
}

// Accept returns the next connection within its client's bound; one over
// it gets 429 and is closed.
func (l *clientLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		k := clientOf(c.RemoteAddr())
		l.mu.Lock()
		n := l.open[k]
		if n < l.max {
			l.open[k] = n + 1
			l.mu.Unlock()
			return &limitedConn{Conn: c, l: l, k: k}, nil
		}
		warn := l.warnable(k)
		l.mu.Unlock()
		if warn {
			l.log.Warn("a client holds as many connections as allowed; refusing more", "client", k.String(), "limit", l.max)
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte(tooMany))
		c.Close()
	}
}

// warnable reports whether refusing k is to be logged: once a minute at
// most. l.mu is held.
func (l *clientLimit) warnable(k netip.Prefix) bool {
	now := time.Now()
	if t, ok := l.warned[k]; ok && now.Sub(t) < time.Minute {
		return false
	}
	for o, t := range l.warned { // those of long ago go: the map stays small
		if now.Sub(t) >= time.Minute {
			delete(l.warned, o)
		}
	}
	l.warned[k] = now
	return true
}

// done counts one of k's connections closed.
func (l *clientLimit) done(k netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[k] <= 1 {
		delete(l.open, k)
		return
	}
	l.open[k]--
}

// clientOf is the client a remote address counts against: its IPv4
// address, or its IPv6 /64 (the least a site gets, so that one client
// cannot take a fresh address for each connection).
func clientOf(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

// limitedConn is a connection counted against its client until closed.
type limitedConn struct {
	net.Conn
	l      *clientLimit
	k      netip.Prefix
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.l.done(c.k)
	}
	return err
}

// CloseWrite closes the sending side, as net/http does before closing a
// connection it answered, so that the client reads the answer whole.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("serving: %T cannot close its sending side", c.Conn)
}
