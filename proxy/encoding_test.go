package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/codingtest"
)

// decodingClient is a client that asks for every coding it knows and
// shows what came on the wire, as curl --compressed, a browser or
// Python's requests would then decode it.
func decodingClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// echoBoth asks ps for a 2xx and for a 400 (the model "fail") as a
// decoding client, and checks each answer, body read.
func echoBoth(t *testing.T, ps string, check func(path string, resp *http.Response, body string)) {
	t.Helper()
	c := decodingClient(t)
	for _, path := range []string{genPath, "/v1beta/models/fail:generateContent"} {
		resp := sendDecoding(t, c, ps+path)
		body, _ := io.ReadAll(resp.Body)
		check(path, resp, string(body))
		noSecrets(t, "the answer", string(body))
	}
}

// echoWith writes the key's echo as a hostile upstream does, a 400 for
// the model "fail".
func echoWith(w http.ResponseWriter, r *http.Request, body io.Writer) {
	if strings.Contains(r.URL.Path, "fail") {
		w.WriteHeader(http.StatusBadRequest)
	}
	io.WriteString(body, `{"echo":"`+r.Header.Get("X-Goog-Api-Key")+`"}`)
}

func sendDecoding(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(genBody))
	req.Header.Set("x-goog-api-key", token)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEncodedEchoRedacted: an upstream that echoes the key it got under a
// content coding net/http does not undo (deflate, zlib-wrapped or raw,
// x-gzip, gzip twice, br, zstd, stacked, in capitals) used to get its
// answer through still encoded, out of the redactor's sight: a client that
// decodes read the key. On a 2xx, a 2xx stream and a 400, the client now
// gets the answer decoded, without Content-Encoding, the placeholder where
// the key was; the stream's events still arrive one by one.
func TestEncodedEchoRedacted(t *testing.T) {
	for _, coding := range codingtest.Decodable {
		t.Run(coding, func(t *testing.T) {
			ack := make(chan struct{})
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				key := r.Header.Get("X-Goog-Api-Key")
				w.Header().Set("Content-Encoding", codingtest.Header(coding))
				cw := codingtest.NewWriter(w, coding)
				defer cw.Close()
				switch {
				case strings.Contains(r.URL.RawQuery, "alt=sse"):
					w.Header().Set("Content-Type", "text/event-stream")
					half := len(key) / 2
					writeEvents(w, r, cw, ack, "data: {\"n\":0}\n\n", "data: {\"raw\":\""+key[:half], key[half:]+"\"}\n\n")
				default:
					echoWith(w, r, cw)
				}
			})
			ps := recorderProxy(t, rec, io.Discard, nil)
			echoBoth(t, ps.URL, func(path string, resp *http.Response, body string) {
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					t.Errorf("%s: Content-Encoding %q reached the client: the body went through encoded", path, ce)
				}
				if body != `{"echo":"apijongler"}` {
					t.Errorf("%s: %d %q, want the echo decoded with the placeholder", path, resp.StatusCode, body)
				}
			})

			resp := sendDecoding(t, decodingClient(t), ps.URL+"/v1beta/models/"+model+":streamGenerateContent?alt=sse")
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("stream: Content-Encoding %q reached the client", ce)
			}
			readEvents(t, bufio.NewReader(resp.Body), ack, `{"n":0}`, `{"raw":"apijongler"}`)
		})
	}
}

// TestUndecodableAnswerRefused: an answer in a content coding the proxy
// cannot undo (an unknown one, or too many stacked) cannot be searched
// for the key: on a 2xx and on a 400 the client gets 502 naming the
// coding, never the body.
func TestUndecodableAnswerRefused(t *testing.T) {
	for _, coding := range codingtest.Undecodable {
		t.Run(coding, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", coding)
				// Written as it is: the proxy cannot know what a coding it
				// does not know hides, so the body must never go on.
				echoWith(w, r, w)
			})
			ps := recorderProxy(t, rec, io.Discard, nil)
			echoBoth(t, ps.URL, func(path string, resp *http.Response, body string) {
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `content coding`) ||
					!strings.Contains(body, strings.SplitN(coding, ",", 2)[0]) {
					t.Errorf("%s: %d %s, want 502 naming the coding", path, resp.StatusCode, body)
				}
				if strings.Contains(body, "echo") {
					t.Errorf("%s: the upstream's body reached the client: %s", path, body)
				}
			})
		})
	}
}
