package jonglertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// noon is a simulated start on a whole minute, far from any Los Angeles
// midnight, so that tests at wall speed never cross a window by accident.
var noon = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	flash     = "gemini-2.5-flash"
	okRequest = `{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}`
)

// result is an HTTP answer, or the error that replaced it.
type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// post sends body to path (relative to srv.URL) with the headers given as
// name, value pairs.
func post(t testing.TB, srv *jonglertest.Server, path, body string, headers ...string) result {
	t.Helper()
	return postCtx(context.Background(), t, srv, path, body, headers...)
}

func postCtx(ctx context.Context, t testing.TB, srv *jonglertest.Server, path, body string, headers ...string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// gen sends a generateContent request for model with key.
func gen(t testing.TB, srv *jonglertest.Server, key, model string) result {
	t.Helper()
	return post(t, srv, "/v1beta/models/"+model+":generateContent", okRequest, "x-goog-api-key", key)
}

// apiError is a Google error body.
type apiError struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

func decodeError(t testing.TB, b []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return e
}

// detail returns the detail of e whose @type ends with typ, or nil.
func (e apiError) detail(typ string) map[string]any {
	for _, d := range e.Error.Details {
		if s, _ := d["@type"].(string); strings.HasSuffix(s, "."+typ) {
			return d
		}
	}
	return nil
}

// retryDelay returns the RetryInfo.retryDelay of e.
func (e apiError) retryDelay(t testing.TB) time.Duration {
	t.Helper()
	d := e.detail("RetryInfo")
	if d == nil {
		t.Fatalf("no RetryInfo in %+v", e)
	}
	delay, err := time.ParseDuration(d["retryDelay"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return delay
}

// violation returns the first QuotaFailure violation of e.
func (e apiError) violation(t testing.TB) map[string]any {
	t.Helper()
	d := e.detail("QuotaFailure")
	if d == nil {
		t.Fatalf("no QuotaFailure in %+v", e)
	}
	return d["violations"].([]any)[0].(map[string]any)
}

// keys returns n keys "k1"... with values "value-k1"..., in project.
func keys(project string, labels ...string) []jonglertest.Key {
	var out []jonglertest.Key
	for _, l := range labels {
		out = append(out, jonglertest.Key{Label: l, Value: "value-" + l, Project: project})
	}
	return out
}

// waitFor polls cond every millisecond until it holds or 5s have passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
