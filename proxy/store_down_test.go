package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// downStore is a store whose server cannot be reached.
type downStore struct{}

var errDown = errors.New("redisstore: redis://127.0.0.1:6379/0: acquire: dial tcp 127.0.0.1:6379: connect: connection refused")

func (downStore) Acquire(context.Context, string, []string, int) (jongler.Lease, error) {
	return nil, errDown
}
func (downStore) InFlight(context.Context, string, []string, int) (map[string]int, error) {
	return nil, errDown
}
func (downStore) Load(context.Context, string) ([]byte, error) { return nil, errDown }
func (downStore) Update(context.Context, string, func([]byte) ([]byte, error)) error {
	return errDown
}

// TestStoreDown: with the key store down (Redis stopped), the proxy
// answered 502 "the upstream could not be reached" and its access log said
// "upstream unreachable", with no word of the store anywhere at Info: an
// operator looked at the wrong end. The client gets 503 saying the key
// store is unavailable; the access log line says so and carries the
// store's error, which names it. Nothing went upstream.
func TestStoreDown(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	ps := recorderProxy(t, rec, logs, []jongler.Option{jongler.WithStore(downStore{})})
	resp, body := do(t, "POST", ps.URL+genPath, token, genBody)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "key store") {
		t.Errorf("%d %s, want 503 saying the key store is unavailable", resp.StatusCode, body)
	}
	if strings.Contains(body, "127.0.0.1:6379") {
		t.Errorf("the answer names the store's address: %s", body)
	}
	var line string
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			line = l
		}
	}
	if !strings.Contains(line, `"note":"store unavailable"`) || !strings.Contains(line, "redisstore:") {
		t.Errorf("access log %s, want note store unavailable and the store's error", line)
	}
	if len(rec.all()) != 0 {
		t.Error("the request went upstream")
	}
	noSecrets(t, "logs", logs.String())
}
