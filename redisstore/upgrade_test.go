package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
)

// TestLeaseLostClosesUpgradedSession: an upgraded (101) session is a
// request in flight on its key for as long as it is open. When Redis
// pauses past the lease's TTL, the holder cannot renew: its lease lapses
// and another process may lease the key. The session is closed then, at
// both ends, rather than go on beside the new holder's requests (net/http
// hands an upgraded connection over detached from its request's context,
// so cancelling that context alone leaves it open).
func TestLeaseLostClosesUpgradedSession(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 300 * time.Millisecond
	prefix := fmt.Sprintf("up%d:", time.Now().UnixNano())
	newStore := func() *redisstore.Store {
		return redisstore.New(srv.Client(t), redisstore.WithTTL(ttl), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))
	}
	upstreamGone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer close(upstreamGone)
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return // the session is closed
			}
			brw.WriteString(line)
			brw.Flush()
		}
	}))
	defer up.Close()
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "k", Value: "AIzaUpgradeSessionTestValue0123456789"}),
		jongler.WithStore(newStore()), jongler.WithBaseURL(up.URL), jongler.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	req, _ := http.NewRequest(http.MethodGet, up.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	rwc := resp.Body.(io.ReadWriteCloser)
	defer rwc.Close()
	br := bufio.NewReader(rwc)
	io.WriteString(rwc, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	// Held past several TTLs while Redis answers: renewals keep it.
	time.Sleep(2 * ttl)
	io.WriteString(rwc, "still\n")
	if line, err := br.ReadString('\n'); err != nil || line != "still\n" {
		t.Fatalf("echo after %v = %q, %v", 2*ttl, line, err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		read <- err
	}()

	// Redis pauses past the TTL, as a stalled server would.
	pause := 4 * ttl
	if err := srv.Client(t).Do(t.Context(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-read:
		if !errors.Is(err, jongler.ErrLeaseLost) {
			t.Errorf("the session ended with %v; want ErrLeaseLost", err)
		}
		if err != nil && strings.Contains(err.Error(), "AIza") {
			t.Errorf("the error shows the key: %v", err)
		}
	case <-time.After(pause + 5*time.Second):
		t.Fatal("the upgraded session stayed open after its lease was lost")
	}
	select {
	case <-upstreamGone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream still holds the session after the lease was lost")
	}

	// The lease was lost indeed: another process leases the key once
	// Redis answers again.
	other := newStore()
	deadline := time.Now().Add(pause + 5*time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		l, err := other.Acquire(ctx, jongler.ConnectorGemini, []string{"k"}, 1)
		cancel()
		if err == nil && l != nil {
			l.Release(t.Context())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another process could not lease the key after the loss: %v", err)
		}
		time.Sleep(ttl / 5)
	}
}
