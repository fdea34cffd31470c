package jongler_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// ctxBlindBase answers every request with a stream that never ends and
// that no context cancels, as a base transport may.
type ctxBlindBase struct{ body *io.PipeReader }

func (b ctxBlindBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: b.body, ContentLength: -1, Request: req}, nil
}

// TestLeaseLostClosesStreamedBody: a stream whose lease the store loses is
// closed then, even when the base transport's body does not follow the
// request's context: another holder may be using the key.
func TestLeaseLostClosesStreamedBody(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	s := lossyStore{jongler.NewMemoryStore(), make(chan struct{})}
	tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(testKeys)...), jongler.WithStore(s),
		jongler.WithBaseTransport(ctxBlindBase{pr}), jongler.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://"+gem+"/v1beta/models/m:streamGenerateContent", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		read <- err
	}()
	close(s.lost)
	select {
	case err := <-read:
		if !errors.Is(err, jongler.ErrLeaseLost) {
			t.Errorf("the stream ended with %v; want ErrLeaseLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after its lease was lost")
	}
}
