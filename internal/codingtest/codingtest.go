// Package codingtest writes bodies in HTTP content codings, as a hostile
// or careless upstream sends them, for tests of what a client is handed.
package codingtest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Decodable are Content-Encoding values the transport undoes, each
// written as named: one coding, stacked ones, names in other cases. The
// pseudo coding "raw-deflate" is deflate without zlib's wrapping, as some
// servers send "deflate"; [Header] gives the value to send.
var Decodable = []string{
	"deflate", "raw-deflate", "x-gzip", "gzip, gzip", "br", "zstd",
	"identity, deflate, br", "X-GZIP", "gzip, zstd, br",
}

// Undecodable are Content-Encoding values the transport refuses: unknown
// codings, and too many stacked. Their bodies are written as they are.
var Undecodable = []string{"compress", "snappy", "gzip, gzip, gzip, gzip, gzip"}

// Header returns the Content-Encoding value that names coding.
func Header(coding string) string { return strings.ReplaceAll(coding, "raw-deflate", "deflate") }

// Writer writes what it is given in the content codings of a
// Content-Encoding value, applied in their order.
type Writer struct {
	ws []encoder // the first applied first
	w  io.Writer
}

type encoder interface {
	io.WriteCloser
	Flush() error
}

// NewWriter returns a Writer to w for the Content-Encoding value codings.
// Only what [Decodable] holds is encoded; any other coding is not.
func NewWriter(w io.Writer, codings string) *Writer {
	cw := &Writer{w: w}
	if !decodable(codings) {
		return cw
	}
	list := strings.Split(codings, ",")
	next := w // the last coding applied writes to w
	ws := make([]encoder, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		var e encoder
		switch c := strings.ToLower(strings.TrimSpace(list[i])); c {
		case "gzip", "x-gzip":
			e = gzip.NewWriter(next)
		case "deflate":
			e = zlib.NewWriter(next)
		case "raw-deflate":
			e, _ = flate.NewWriter(next, flate.DefaultCompression)
		case "br":
			e = brotli.NewWriter(next)
		case "zstd":
			z, err := zstd.NewWriter(next, zstd.WithEncoderConcurrency(1))
			if err != nil {
				panic(err)
			}
			e = z
		case "identity":
			e = nopEncoder{next}
		default:
			panic(fmt.Sprintf("codingtest: no writer for %q", c))
		}
		ws[i] = e
		next = e
	}
	cw.ws = ws
	return cw
}

func decodable(codings string) bool {
	for _, c := range Decodable {
		if c == codings {
			return true
		}
	}
	return false
}

// Write encodes p.
func (w *Writer) Write(p []byte) (int, error) {
	if len(w.ws) == 0 {
		return w.w.Write(p)
	}
	return w.ws[0].Write(p)
}

// Flush writes out, encoded, everything written so far.
func (w *Writer) Flush() error {
	for _, e := range w.ws {
		if err := e.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Close ends every coding's stream.
func (w *Writer) Close() error {
	for _, e := range w.ws {
		if err := e.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Encode returns s written in codings.
func Encode(s, codings string) []byte {
	var b bytes.Buffer
	w := NewWriter(&b, codings)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

type nopEncoder struct{ io.Writer }

func (nopEncoder) Flush() error { return nil }
func (nopEncoder) Close() error { return nil }
