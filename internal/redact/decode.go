package redact

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// An upstream may send an answer in any content coding, whatever the
// request asked for: net/http undoes a single "gzip" it asked for itself,
// and hands every other coding on as it came ("deflate", "x-gzip",
// "gzip, gzip", "br", "zstd"). The key cannot be found in compressed
// bytes, and a client that decodes them (curl --compressed, a browser,
// Python's requests) would read it. So a body that is to be redacted has
// its codings undone first, outermost last, and reaches its reader
// decoded, without Content-Encoding or Content-Length; a coding that
// cannot be undone (an unknown one, "compress", more than maxCodings
// stacked) fails the answer with an [EncodingError] instead.

// maxCodings bounds the content codings one answer may stack: each holds
// a decoder's window in memory.
const maxCodings = 4

// zstdWindow bounds the window of a "zstd" answer, as HTTP's use of
// Zstandard does (RFC 9659): a longer one is refused, not allocated.
const zstdWindow = 8 << 20

// EncodingError is the error for an answer in a content coding that
// cannot be undone to look for the key in its body.
type EncodingError struct {
	// Coding is the content coding as the upstream named it (with the
	// key replaced, bytes a token cannot hold as '?', cut to 40 bytes),
	// or the whole list when there were too many.
	Coding string
	// Stacked is set when it is the number of codings that is refused.
	Stacked bool
}

// Error names the coding and says why the answer is refused.
func (e *EncodingError) Error() string {
	if e.Stacked {
		return fmt.Sprintf("more than %d content codings stacked (%q) are not undone to look for the key", maxCodings, e.Coding)
	}
	return fmt.Sprintf("content coding %q cannot be undone to look for the key", e.Coding)
}

// codings returns the content codings of an answer with header h, in the
// order they were applied, "identity" left out; nil if there is none.
func codings(h http.Header) ([]string, error) {
	vs := h["Content-Encoding"]
	if len(vs) == 0 {
		return nil, nil
	}
	var out []string
	for _, v := range vs {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			switch c := strings.ToLower(name); c {
			case "", "identity":
				continue
			case "gzip", "x-gzip", "deflate", "br", "zstd":
				out = append(out, c)
			default:
				// Named as written: the key was replaced in the header,
				// and no other spelling of it is made here.
				return nil, &EncodingError{Coding: tokenText(name)}
			}
		}
	}
	if len(out) > maxCodings {
		return nil, &EncodingError{Coding: tokenText(strings.Join(out, ", ")), Stacked: true}
	}
	return out, nil
}

// tokenText returns s fit to quote in a message: its bytes outside an
// HTTP token as '?', cut to 40 bytes.
func tokenText(s string) string {
	const most = 40
	b := []byte(s)
	if len(b) > most {
		b = append(b[:most-3], "..."...)
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~, ", c) >= 0) {
			b[i] = '?'
		}
	}
	return string(b)
}

// decode makes resp's body its content decoded, as described above; it
// fails, closing the body, for a coding it cannot undo.
func decode(resp *http.Response) error {
	cs, err := codings(resp.Header)
	if err != nil {
		resp.Body.Close()
		return err
	}
	if cs == nil {
		return nil
	}
	resp.Body = &decoded{raw: resp.Body, codings: cs}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

// decoded is a body with its content codings undone. The decoders are
// made at the first Read, which may wait for the body's first bytes, not
// before: the answer is handed on at once, as any other.
type decoded struct {
	raw     io.ReadCloser
	codings []string // in the order applied
	r       io.Reader
	err     error // once set, every Read returns it
}

func (d *decoded) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.r == nil {
		r, err := d.open()
		if err != nil {
			if err != io.EOF {
				err = d.wrap(err)
			}
			d.err = err
			return 0, err
		}
		d.r = r
	}
	n, err := d.r.Read(p)
	switch {
	case err == io.EOF:
		// The content ends here; the raw body must end too, for its
		// trailers to come: read what may be left of it (bytes after
		// the end of a stream mean nothing).
		if _, rerr := io.CopyN(io.Discard, d.raw, 4<<10); rerr != nil && rerr != io.EOF {
			err = d.wrap(rerr)
		}
		d.err = err
	case err != nil:
		err = d.wrap(err)
		d.err = err
	}
	return n, err
}

// wrap returns err, met decoding, with the codings named.
func (d *decoded) wrap(err error) error {
	return fmt.Errorf("content coding %s: %w", strings.Join(d.codings, ", "), err)
}

// open returns the decoders, the outermost reading the raw body.
func (d *decoded) open() (io.Reader, error) {
	br := bufio.NewReader(d.raw)
	if _, err := br.Peek(1); err != nil {
		return nil, err // an empty body has empty content, in any coding
	}
	var r io.Reader = br
	for i := len(d.codings) - 1; i >= 0; i-- {
		var err error
		switch c := d.codings[i]; c {
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(r)
		case "deflate":
			r, err = inflate(r)
		case "br":
			r = brotli.NewReader(r)
		case "zstd":
			// One goroutine (none of its own), a bounded window; nothing
			// to close.
			r, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(zstdWindow))
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// inflate returns r's "deflate" content: zlib-wrapped, as HTTP says, or
// raw deflate, as some servers send it.
func inflate(r io.Reader) (io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && h[0]>>4 <= 7 && (uint(h[0])<<8|uint(h[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

// Close closes the raw body.
func (d *decoded) Close() error { return d.raw.Close() }
