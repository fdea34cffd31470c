package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/api-jongler/jongler/internal/redact"
)

// logWriter records what is answered, for the access log. It passes
// flushes and hijacks on (Flush, Unwrap), so streams and upgrades work
// through it.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	note   string // why the proxy answered itself, if it did
	err    string // the error behind the note, for the operator
	// rc controls the connection; writeTimeout is how long each write
	// may take (limits.go).
	rc           http.ResponseController
	writeTimeout time.Duration
	// bodyAnnounced: the request announced a body; body is the reader the
	// handler gave it, nil if none (it answered without reading).
	bodyAnnounced bool
	body          *idleBody
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.beforeHeader()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.beforeHeader()
	}
	w.extendWrite()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	w.wrote(err)
	return n, err
}

// Flush sends what is buffered to the client.
func (w *logWriter) Flush() { w.FlushError() }

// FlushError is Flush reporting failure, as http.ResponseController wants.
func (w *logWriter) FlushError() error {
	w.extendWrite()
	err := w.rc.Flush()
	w.wrote(err)
	return err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequest writes the access log line of one request. It runs deferred,
// also when the handler panics (http.ErrAbortHandler for an answer cut
// short), which it lets go on.
func (h *Handler) logRequest(r *http.Request, x *exchange) {
	p := recover()
	m, w := x.m, &x.lw
	status := w.status
	if r.Context().Err() != nil && status < 400 && w.note == "" {
		// The client left, or the server cut the request; whatever was
		// written did not all reach the client.
		w.note = goneNote(r.Context())
	}
	if p != nil && w.note == "" {
		w.note = "answer cut short"
	}
	h.metrics.record(r.Context(), x, status) // before the line: whoever reads the line finds the count
	if h.log.Enabled(r.Context(), slog.LevelInfo) {
		s := x.info.Snapshot()
		if s.NoKey && w.note == "" {
			w.note = "no key"
		}
		found := h.tokens()
		attrs := make([]slog.Attr, 0, 13) // room for all: no growing
		attrs = append(attrs,
			slog.String("client", h.clientAddr(r)),
			slog.String("client_name", x.clientName()),
			slog.String("method", found.logMethod(r.Method)),
			slog.String("path", found.redact(redactedPath(r.URL, m))),
			slog.Int("status", status))
		if m != nil {
			attrs = append(attrs, slog.String("connector", m.name))
		}
		if s.Model != "" {
			attrs = append(attrs, slog.String("model", s.Model))
		}
		if s.Key != "" {
			attrs = append(attrs, slog.String("key", s.Key))
		}
		attrs = append(attrs,
			slog.Int("attempts", s.Attempts),
			slog.Int64("bytes", w.bytes),
			slog.Duration("duration", time.Since(x.start)))
		if w.note != "" {
			attrs = append(attrs, slog.String("note", w.note))
		}
		if w.err != "" {
			attrs = append(attrs, slog.String("err", found.redact(w.err)))
		}
		h.log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "request", attrs...)
	}
	if p != nil {
		panic(p)
	}
}

// clientName is the name of the client of x for the log and the metrics.
func (x *exchange) clientName() string {
	if x.client == "" {
		return NoClient
	}
	return x.client
}

// redactedPath is the path and query of u for the access log, with every
// credential's value replaced (the mount's own parameter too).
func redactedPath(u *url.URL, m *mount) string {
	if m == nil {
		return redact.URLPath(u, "")
	}
	return redact.URLPath(u, m.query)
}

// remoteIP is the IP address a connection came from, without its port.
func remoteIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
