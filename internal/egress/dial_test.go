package egress

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestGuardTimesOut: a proxy that never answers is an *Error ("no answer")
// after DialTimeout; a caller that gives up first gets its own error, not
// the proxy's.
func TestGuardTimesOut(t *testing.T) {
	hang := func(ctx context.Context) (net.Conn, error) { <-ctx.Done(); return nil, ctx.Err() }
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		_, err := guard(t.Context(), "socks5://10.0.0.1:1080", hang)
		var e *Error
		if !errors.As(err, &e) || e.Cause() != "no answer" || e.Proxy != "socks5://10.0.0.1:1080" {
			t.Fatalf("err = %v; want the proxy's *Error, no answer", err)
		}
		if waited := time.Since(start); waited != DialTimeout {
			t.Errorf("gave up after %v; want %v", waited, DialTimeout)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := guard(ctx, "socks5://10.0.0.1:1080", hang)
		var e *Error
		if errors.As(err, &e) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want the caller's deadline, not the proxy's fault", err)
		}
	})
}

// TestErrorCause: each way a proxy fails, said in a few words.
func TestErrorCause(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := net.Dial("tcp", addr)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{refused, "connection refused"},
		{context.DeadlineExceeded, "no answer"},
		{errors.New("socks: username/password authentication failed"), "failed"},
	} {
		if got := (&Error{Proxy: "p", Err: tc.err}).Cause(); got != tc.want {
			t.Errorf("Cause of %v = %q; want %q", tc.err, got, tc.want)
		}
	}
}
