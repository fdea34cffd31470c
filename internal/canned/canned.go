// Package canned answers HTTP requests from memory, for the benchmarks that
// measure what a RoundTripper or handler adds: no network, no server.
package canned

import (
	"io"
	"net/http"
	"strings"
)

// Answer is a minimal generateContent answer, the default body.
const Answer = `{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}`

// Transport answers every request at once with 200 and a JSON Body
// (Answer if empty). It reads and closes the request's body, as a server
// would.
type Transport struct {
	Body string
}

// RoundTrip implements [http.RoundTripper].
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body := t.Body
	if body == "" {
		body = Answer
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}, nil
}
