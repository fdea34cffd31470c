package jongler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A stream abandoned before its end holds its key for the rest of a dead
// holder's key, in every process sharing the state directory (here, a
// second FileStore on it, which holds its own descriptors as another
// process would). The rest is made an hour so that "not before the rest"
// does not depend on the machine's speed.
func TestAbandonedStreamRestsAcrossStores(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	tr, err := NewTransport("generativelanguage.googleapis.com", WithKeys(Key{Name: "only", Value: "v-only-91ab"}),
		WithStateDir(dir), WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	tr.abandonRest = time.Hour
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 4))
	resp.Body.Close() // abandoned: the upstream may still be streaming

	if leasableElsewhere(t, dir, tr.connector.Name, "only", nil) {
		t.Fatal("another process leased the key at once after a stream was abandoned mid-way; want it to rest first")
	}
}

// A request given up on before its answer came (the caller's context ended,
// or the base transport timed out waiting for the headers) may still be
// served upstream: its key rests as after an abandoned body, in every
// process. A send that failed outright (nothing listening) frees the key at
// once.
func TestGivenUpRequestRestsItsKey(t *testing.T) {
	tests := []struct {
		name string
		// send sends req through tr to an upstream that holds every
		// request until its client goes.
		send     func(tr *Transport, req *http.Request, arrived <-chan struct{}) error
		unserved bool // the upstream is closed before the send
		rests    bool
	}{
		{name: "caller canceled", rests: true, send: func(tr *Transport, req *http.Request, arrived <-chan struct{}) error {
			ctx, cancel := context.WithCancel(req.Context())
			go func() { <-arrived; cancel() }()
			_, err := tr.RoundTrip(req.WithContext(ctx))
			return err
		}},
		{name: "header timeout", rests: true, send: func(tr *Transport, req *http.Request, arrived <-chan struct{}) error {
			_, err := tr.RoundTrip(req)
			return err
		}},
		{name: "nothing listening", unserved: true, send: func(tr *Transport, req *http.Request, arrived <-chan struct{}) error {
			_, err := tr.RoundTrip(req)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // then the server sees the client go
				arrived <- struct{}{}
				<-r.Context().Done()
			}))
			defer srv.Close()
			base := http.DefaultTransport.(*http.Transport).Clone()
			if tt.name == "header timeout" {
				base.ResponseHeaderTimeout = 50 * time.Millisecond
			}
			defer base.CloseIdleConnections()
			dir := t.TempDir()
			tr, err := NewTransport("generativelanguage.googleapis.com", WithKeys(Key{Name: "only", Value: "v-only-77cd"}),
				WithStateDir(dir), WithBaseURL(srv.URL), WithBaseTransport(base), WithMaxRetries(-1))
			if err != nil {
				t.Fatal(err)
			}
			tr.abandonRest = time.Hour
			if tt.unserved {
				srv.Close()
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
			if err := tt.send(tr, req, arrived); err == nil {
				t.Fatal("the send succeeded")
			}

			if got := leasableElsewhere(t, dir, tr.connector.Name, "only", nil); got == tt.rests {
				t.Errorf("key leased by another process at once: %v; want %v", got, !tt.rests)
			}
		})
	}
}

// Close waits for a key kept after a given-up request to be given back:
// the next process then leases it at once, and does not take it for a dead
// holder's.
func TestCloseWaitsForRestingKeys(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	dir := t.TempDir()
	tr, err := NewTransport("generativelanguage.googleapis.com", WithKeys(Key{Name: "only", Value: "v-only-5e1a"}),
		WithStateDir(dir), WithBaseURL(srv.URL), WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	tr.abandonRest = 3 * time.Second // the first look below is well within it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("the send succeeded")
	}
	if leasableElsewhere(t, dir, tr.connector.Name, "only", nil) {
		t.Fatal("the key did not rest after the request was given up on")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	if !leasableElsewhere(t, dir, tr.connector.Name, "only", slog.New(slog.NewTextHandler(&logs, nil))) {
		t.Fatal("the key is still leased after Close")
	}
	if strings.Contains(logs.String(), "died holding") {
		t.Errorf("the next store took the key for a dead holder's: %s", logs.String())
	}
}

// leasableElsewhere reports whether another process (here, another file
// store on dir, logging to logger) can lease key at once; it gives the
// lease back.
func leasableElsewhere(t *testing.T, dir, connector, key string, logger *slog.Logger) bool {
	t.Helper()
	other, err := NewFileStore(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l, err := other.Acquire(context.Background(), connector, []string{key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l == nil {
		return false
	}
	l.Release(context.Background())
	return true
}

// Close waits for the rests begun before it only: rests begun meanwhile do
// not hold it up, however many.
func TestPendingRestsWaitsForEarlierOnly(t *testing.T) {
	var p pendingRests
	p.wait() // none: at once
	g1 := p.add()
	g2 := p.add()
	waited := make(chan struct{})
	go func() {
		p.wait()
		close(waited)
	}()
	for !p.generationEnded(g1) {
		time.Sleep(time.Millisecond) // until wait has begun
	}
	later := p.add() // begun during the wait
	p.done(g1)
	select {
	case <-waited:
		t.Fatal("wait returned with a rest begun before it still pending")
	default:
	}
	p.done(g2)
	<-waited // a later rest, still pending, does not hold it up
	p.done(later)
	p.wait() // the later generation: ended, at once
}

// generationEnded reports whether a wait has closed g's generation.
func (p *pendingRests) generationEnded(g *restGen) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return g.old
}

func TestIsTimeout(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"read timeout", &url.Error{Op: "Post", URL: "u", Err: timeout}, true},
		{"header timeout", fmt.Errorf("wrapped: %w", &url.Error{Op: "Post", URL: "u", Err: timeoutError{}}), true},
		{"dial timeout: nothing sent", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}, false},
		{"refused", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, false},
		{"plain", errors.New("x"), false},
	}
	for _, tt := range tests {
		if got := isTimeout(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// timeoutError is a timeout of no particular operation, as net/http's
// "timeout awaiting response headers".
type timeoutError struct{}

func (timeoutError) Error() string   { return "timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
