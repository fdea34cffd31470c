package jongler_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/transporttest"
)

// Issue 9 §2: no lease outlives its request.

var onlyKey = jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only-5d2e"})

// An answer with no body to stream ends its lease at once: callers often
// do not close those.
func TestLeaseEndsAtOnceWithoutBody(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		switch r.URL.Query().Get("case") {
		case "204":
			w.WriteHeader(http.StatusNoContent)
		case "304":
			w.WriteHeader(http.StatusNotModified)
		case "empty":
			w.Header().Set("Content-Length", "0")
		default:
			w.Write([]byte(`{"ok":true}`))
		}
	})
	nobody := &bodyless{}
	for _, tc := range []struct{ name, method, query string }{
		{"204", http.MethodPost, "case=204"},
		{"304", http.MethodGet, "case=304"},
		{"HEAD", http.MethodHead, ""},
		{"Content-Length 0", http.MethodPost, "case=empty"},
		{"http.NoBody", http.MethodPost, "case=nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []jongler.Option{onlyKey}
			if tc.name == "http.NoBody" {
				opts = append(opts, jongler.WithBaseTransport(nobody))
			}
			tr := newTransport(t, u, opts...)
			req, _ := http.NewRequest(tc.method, u.URL+genPath+"?"+tc.query, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			// Not closed, on purpose.
			if n := transporttest.InFlight(t, tr); n != 0 {
				t.Errorf("%d %s: %d leases in flight with the answer unclosed, want 0", resp.StatusCode, tc.name, n)
			}
			if resp.Body == nil {
				t.Error("nil Body")
			}
		})
	}
}

// bodyless answers 200 with http.NoBody and an unknown length.
type bodyless struct{}

func (bodyless) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: -1, Request: r}, nil
}

// A body the caller drops without closing ends its lease when it is
// garbage collected, with one warning naming the request, and no key.
func TestUnclosedBodyLeaseEndsWhenUnreachable(t *testing.T) {
	for _, store := range []string{"file", "memory"} {
		t.Run(store, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {}\n\n")
				w.(http.Flusher).Flush()
				<-r.Context().Done() // a stream that never ends by itself
			})
			var logs syncBuffer
			opts := []jongler.Option{onlyKey, jongler.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			if store == "memory" {
				opts = append(opts, jongler.WithStore(jongler.NewMemoryStore()))
			}
			tr := newTransport(t, u, opts...)
			func() {
				resp, err := tr.RoundTrip(mustRequest(t, u.URL+genPath+"?alt=sse&secret=q"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Read(make([]byte, 4))
				// Dropped here, never closed.
			}()
			deadline := time.Now().Add(10 * time.Second)
			for transporttest.InFlight(t, tr) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the lease of a dropped, unclosed body is still held after 10 s of garbage collections")
				}
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			// The key serves the next request, which has no deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("next request: %v", err)
			}
			resp.Body.Close()
			out := logs.String()
			if n := strings.Count(out, "never closed"); n != 1 {
				t.Errorf("%d warnings about the unclosed body, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, "POST "+genPath) {
				t.Errorf("the warning does not name the request (method and path):\n%s", out)
			}
			if strings.Contains(out, "v-only-5d2e") || strings.Contains(out, "secret=q") {
				t.Errorf("the warning shows a key or the query:\n%s", out)
			}
		})
	}
}

// A 101 Switching Protocols answer keeps its lease until the upgraded
// connection is closed: two upgraded sessions on one key with in-flight 1
// would be two requests at once.
func TestUpgradeHoldsLeaseUntilClosed(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString(line)
		brw.Flush()
		io.Copy(io.Discard, brw) // until the client closes
	})
	tr := newTransport(t, u, onlyKey)
	upgrade := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+"/ws?key=placeholder", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		return tr.RoundTrip(req)
	}
	resp, err := upgrade(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("the upgraded body %T is not an io.ReadWriteCloser", resp.Body)
	}
	if n := transporttest.InFlight(t, tr); n != 1 {
		t.Errorf("%d leases in flight with the upgraded session open, want 1", n)
	}
	// The session works through the wrapper.
	io.WriteString(rwc, "ping\n")
	if line, err := bufio.NewReader(rwc).ReadString('\n'); err != nil || line != "ping\n" {
		t.Errorf("echo = %q, %v", line, err)
	}
	// A second session waits for the key: here until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if resp2, err := upgrade(ctx); err == nil {
		resp2.Body.Close()
		t.Error("a second upgraded session ran on the key while the first was open (in-flight 1)")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second session: %v, want the deadline", err)
	}
	rwc.Close()
	transporttest.WaitNoneInFlight(t, tr)
}

// A Policy that panics ends the lease, and the panic goes on.
func TestPolicyPanicReleasesLease(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{}`))
	})
	boom := errors.New("policy bug")
	tr := newTransport(t, u, onlyKey, jongler.WithPolicy(jongler.PolicyFunc(func(*jongler.Answer) jongler.Verdict { panic(boom) })))
	got := func() (r any) {
		defer func() { r = recover() }()
		tr.RoundTrip(mustRequest(t, u.URL+genPath))
		return nil
	}()
	if got != boom {
		t.Fatalf("recovered %v, want the policy's panic", got)
	}
	if n := transporttest.InFlight(t, tr); n != 0 {
		t.Fatalf("%d leases in flight after the policy panicked, want 0", n)
	}
}

// A stream closed before its end leaves its key leased for the rest of a
// dead holder's key; one read to its last byte (EOF, or its Content-Length
// reached, as a JSON decoder does) does not.
func TestAbandonedStreamRests(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if r.URL.Query().Get("alt") == "sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Write([]byte(`{"candidates":[]}`))
	})
	tr := newTransport(t, u, onlyKey)

	resp, err := tr.RoundTrip(mustRequest(t, u.URL+genPath))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := jsonDecode(resp.Body, &v); err != nil {
		t.Fatal(err)
	}
	if n := transporttest.InFlight(t, tr); n != 0 {
		t.Errorf("%d leases in flight once every byte of the Content-Length was read, want 0", n)
	}
	resp.Body.Close()

	resp, err = tr.RoundTrip(mustRequest(t, u.URL+genPath+"?alt=sse"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 4))
	resp.Body.Close()
	// The rest ends by itself (that it holds the key meanwhile, across
	// processes, is TestAbandonedStreamRestsAcrossStores).
	transporttest.WaitNoneInFlight(t, tr)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
