package serving

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxHeaderBytes bounds a request's header, as nginx's large header
// buffers do (4 of 8 KiB), with room to spare: net/http's default, 1 MiB,
// lets 1,500 clients sending headers slowly hold gigabytes.
const maxHeaderBytes = 64 << 10

// acceptWarnEvery is how often at most a failure to accept is logged.
const acceptWarnEvery = time.Minute

// acceptLog is a listener that logs its failures to accept (a process
// out of file descriptors) at WARN, once a minute at most, with how many
// there were since the last line: net/http retries them, logging each at
// the level of its ErrorLog, Debug, where nobody looks.
type acceptLog struct {
	net.Listener
	log *slog.Logger

	mu     sync.Mutex
	last   time.Time // when last logged
	missed int       // failures since, not logged
}

func (l *acceptLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.failed(err)
	}
	return c, err
}

// failed logs err, unless a failure was logged less than a minute ago.
func (l *acceptLog) failed(err error) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < acceptWarnEvery {
		l.missed++
		l.mu.Unlock()
		return
	}
	missed := l.missed
	l.last, l.missed = now, 0
	l.mu.Unlock()
	l.log.Warn("cannot accept connections; retrying (out of file descriptors? see ulimit -n)", "err", err.Error(), "failures_since_last_warning", missed)
}
