package jongler

import (
	"bytes"
	"io"

	"github.com/api-jongler/jongler/internal/redact"
)

// wholeBodyMax bounds the successful answers whose key is replaced in one
// piece, for a caller who must never learn a key (the proxy's client):
// an answer announcing its length, up to this many bytes, is read whole,
// the key replaced in it, and handed on with its new length, its lease
// ended. The proxy then sends it with a Content-Length, as the upstream
// did, rather than in chunks. A longer answer, or one of unknown length
// (a stream), streams through a redact.Reader.
const wholeBodyMax = 64 << 10

// redactWhole hands on b's answer with its key replaced in one piece, if
// it announced a length up to wholeBodyMax, and reports whether it did.
// A body cut short hands on what came, then the error, as a stream would.
func (b *leaseBody) redactWhole(red redact.Redactor) bool {
	n := b.left
	if n <= 0 || n > wholeBodyMax {
		return false
	}
	data := make([]byte, n)
	got, err := io.ReadFull(b, data)
	if err != nil {
		b.out.Body = redact.NewReader(readCloser{io.MultiReader(bytes.NewReader(data[:got]), errReader{red.Err(err)}), b}, red)
		b.out.ContentLength = -1
		b.out.Header.Del("Content-Length")
		return true
	}
	b.Close() // read to its end: the lease ends now
	red.SetBody(&b.out, data)
	return true
}

// readCloser is a Reader with another's Close.
type readCloser struct {
	io.Reader
	io.Closer
}
