package redact

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/internal/codingtest"
)

// answer is a 400 answer with body, in the Content-Encoding value given.
func answer(status int, coding string, body []byte) *http.Response {
	h := http.Header{"Content-Length": {"999"}}
	if coding != "" {
		h.Set("Content-Encoding", codingtest.Header(coding))
	}
	return &http.Response{StatusCode: status, Header: h, ContentLength: 999,
		Body: io.NopCloser(&chunkReader{data: body, sizes: []byte{1, 7, 0, 3}})}
}

// TestAnswerDecodesBodies: a body whose key is to be replaced comes with
// its content codings undone, read a few bytes at a time, Content-Encoding
// and Content-Length dropped; a successful answer for the key's owner is
// left as it came.
func TestAnswerDecodesBodies(t *testing.T) {
	const key, want = "AIzaSyD-decode-0123456789", `{"error":"bad key placeholder"}`
	body := `{"error":"bad key ` + key + `"}`
	for _, coding := range append(codingtest.Decodable, "", "identity") {
		for _, status := range []int{http.StatusFound, http.StatusBadRequest} {
			r := New(key, "placeholder")
			resp := answer(status, coding, codingtest.Encode(body, coding))
			read, err := r.Answer(resp, &http.Request{})
			if err != nil {
				t.Fatalf("%q %d: %v", coding, status, err)
			}
			if !read {
				data, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%q %d: %v", coding, status, err)
				}
				r.SetBody(resp, data)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != want {
				t.Errorf("%q %d: %q, want %q", coding, status, got, want)
			}
			if coding != "" && coding != "identity" && (resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" || !resp.Uncompressed) {
				t.Errorf("%q %d: header %v, uncompressed %v: want the coding and length dropped", coding, status, resp.Header, resp.Uncompressed)
			}
		}
		// The key's owner reads a successful answer as it came.
		raw := codingtest.Encode(body, coding)
		resp := answer(http.StatusOK, coding, raw)
		if _, err := New(key, "placeholder").Answer(resp, &http.Request{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(resp.Body); string(got) != string(raw) || resp.Header.Get("Content-Encoding") != codingtest.Header(coding) {
			t.Errorf("%q 200 for the owner: changed", coding)
		}
		// Anyone else reads it decoded and streamed through a Reader.
		r := New(key, "placeholder")
		r.Bodies = true
		resp = answer(http.StatusOK, coding, raw)
		if _, err := r.Answer(resp, &http.Request{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(NewReader(resp.Body, r)); string(got) != want {
			t.Errorf("%q 200 for a client: %q, want %q", coding, got, want)
		}
	}
}

// TestAnswerRefusesUnknownCodings: a coding that cannot be undone fails the
// answer with an *EncodingError naming it (replacing the key, bytes no
// token holds, cutting it short), the body closed.
func TestAnswerRefusesUnknownCodings(t *testing.T) {
	const key = "AIzaSyD-decode-0123456789"
	for coding, want := range map[string]string{
		"compress":                     `content coding "compress"`,
		"gzip, snappy":                 `content coding "snappy"`,
		"gzip, gzip, gzip, gzip, gzip": `more than 4 content codings stacked ("gzip, gzip, gzip, gzip, gzip")`,
		"x-" + key:                     `content coding "x-placeholder"`,
		"x\x01\"y":                     `content coding "x??y"`,
		strings.Repeat("z", 100):       `content coding "` + strings.Repeat("z", 37) + `..."`,
	} {
		for _, status := range []int{http.StatusOK, http.StatusFound, http.StatusBadRequest} {
			r := New(key, "placeholder")
			r.Bodies = status == http.StatusOK
			body := &chunkReader{data: []byte("{}")}
			resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Encoding": {coding}}, Body: struct {
				io.Reader
				io.Closer
			}{body, closer{&body.closed}}}
			_, err := r.Answer(resp, &http.Request{})
			var ee *EncodingError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), key) {
				t.Errorf("%q %d: %v, want an EncodingError with %s", coding, status, err, want)
			}
			if !body.closed {
				t.Errorf("%q %d: body left open", coding, status)
			}
		}
	}
}

type closer struct{ closed *bool }

func (c closer) Close() error { *c.closed = true; return nil }

// TestDecodedBody: the decoders are made at the first read, not before
// (an answer is handed on before its body comes); an empty body reads as
// empty in any coding; a broken one fails with the coding named; bytes
// after the end of a stream are read, not handed on.
func TestDecodedBody(t *testing.T) {
	blocked := &countingReader{}
	resp := &http.Response{StatusCode: 400, Header: http.Header{"Content-Encoding": {"gzip"}}, Body: io.NopCloser(blocked)}
	if _, err := New("k3y-value", "").Answer(resp, &http.Request{}); err != nil || blocked.reads != 0 {
		t.Fatalf("Answer: %v, %d reads of the body, want none", err, blocked.reads)
	}
	for _, coding := range codingtest.Decodable {
		resp := answer(400, coding, nil)
		if err := decode(resp); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(resp.Body); err != nil || len(got) != 0 {
			t.Errorf("%q, empty: %q, %v", coding, got, err)
		}
		resp = answer(400, coding, []byte("not encoded at all, but long enough"))
		decode(resp)
		if _, err := io.ReadAll(resp.Body); err == nil || !strings.Contains(err.Error(), "content coding ") {
			t.Errorf("%q, garbage: %v, want an error naming the coding", coding, err)
		}
	}
	raw := append(codingtest.Encode("hello", "deflate"), "trailing bytes"...)
	resp = answer(400, "deflate", raw)
	decode(resp)
	if got, err := io.ReadAll(resp.Body); string(got) != "hello" || err != nil {
		t.Errorf("trailing bytes: %q, %v", got, err)
	}
}

// countingReader counts its reads, each failing.
type countingReader struct{ reads int }

func (b *countingReader) Read([]byte) (int, error) { b.reads++; return 0, io.ErrUnexpectedEOF }
