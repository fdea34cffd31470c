package drills_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/api-jongler/jongler"
)

// TestUseTableLockHonoursDeadline: while another process (here, another
// open file description, as a stopped process would hold) keeps
// use.table.lock, a request returns at its deadline instead of waiting for
// the lock.
func TestUseTableLockHonoursDeadline(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	dir := t.TempDir()
	conn := filepath.Join(dir, jongler.ConnectorGemini)
	if err := os.MkdirAll(conn, 0o700); err != nil {
		t.Fatal(err)
	}
	other := flock.New(filepath.Join(conn, "use.table.lock"))
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "k1", Value: "lock-secret-1"}, jongler.Key{Name: "k2", Value: "lock-secret-2"}),
		jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL), jongler.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RoundTrip: %v; want the deadline", err)
		}
		if !strings.Contains(err.Error(), "use.table.lock") {
			t.Errorf("error %q does not name the lock waited for", err)
		}
	case <-time.After(20 * time.Second):
		other.Unlock() // let the request go, then fail
		<-done
		t.Fatal("a request with a 300 ms deadline was still waiting for use.table.lock after 20 s")
	}
}
