package redact

import (
	"bytes"
	"io"
	"slices"
)

// A successful answer's body streams: a Redactor cannot read it whole
// before handing it on, as it does an error answer's. For a caller who is
// not the key's owner (a client of `apijongler serve`, who holds a proxy
// token and must never learn a key), the body goes through a Reader,
// which replaces the key as the bytes go by, holding back only a tail that
// may be the start of the key:
//
//   - the forms looked for are those of Redactor (the key raw, "+" for a
//     space, each byte percent-encoded in either case of hex digits),
//     nested up to streamDepth levels ("%41", "%2541", "%252541"), and, as
//     a successful answer is mostly JSON, each ASCII byte JSON-escaped
//     ("\u0041", "\/" for a slash, "\"" and "\\");
//   - a chunk in which no byte may start a form goes on at once; a tail
//     that may goes on as soon as the next bytes show it does not, or at
//     the body's end. What is held back is shorter than the longest form,
//     len(key) * streamFormMax bytes: a stream of events, each ending in
//     "\n\n", arrives event by event;
//   - the body read through a Reader, however it is cut into chunks,
//     is the body read whole with every form replaced, leftmost first, the
//     longest one at each place (FuzzRedactStream).

// streamDepth bounds the nesting of percent-encodings a Reader finds:
// unlike Redactor's, its forms must have a bounded length.
const streamDepth = 3

// streamFormMax is the longest form of one byte of the key: '%', "25"
// for each extra level, two hex digits; or "\u" and four hex digits.
const streamFormMax = max(1+2*streamDepth, 6)

// matcher finds the forms of a Redactor's keys in a stream's bytes.
type matcher struct {
	keys   *Keys
	lease  int32  // the id whose forms become with; others become others
	with   string // the placeholder
	others string
	// sameLen: a form is replaced by as many '*' (an upgraded
	// connection's protocol frames its messages by their length).
	sameLen bool
	w       *walker
}

func newMatcher(r Redactor) *matcher {
	m := &matcher{}
	m.init(r)
	return m
}

// init sets m up for r's keys.
func (m *matcher) init(r Redactor) {
	m.keys, m.lease, m.with, m.others = r.keys, r.lease, r.with, Placeholder
}

// scan replaces the forms of the keys in data, appending the result to
// out. It stops at the first place where the bytes to come could decide a
// form, unless eof: it returns the result and where in data the undecided
// tail starts (len(data) if none).
func (m *matcher) scan(data []byte, eof bool, out []byte) ([]byte, int) {
	t := &m.keys.exact
	cu := newCursor()
	last := 0 // data[last:] is not in out yet
	for i := 0; i < len(data); {
		c, n, id, more := t.find(&m.w, &cu, data, i, streamForms, eof)
		switch {
		case c < 0:
			return append(out, data[last:]...), len(data)
		case more:
			return append(out, data[last:c]...), c
		}
		out = append(out, data[last:c]...)
		switch {
		case m.sameLen:
			for range n {
				out = append(out, '*')
			}
		case id == m.lease:
			out = append(out, m.with...)
		default:
			out = append(out, m.others...)
		}
		i, last = c+n, c+n
	}
	return append(out, data[last:]...), len(data)
}

// mayStart reports whether a byte of p may start a form.
func (m *matcher) mayStart(p []byte) bool {
	t := &m.keys.exact
	if len(t.starts) <= 4 {
		for _, sb := range t.starts {
			if bytes.IndexByte(p, sb) >= 0 {
				return true
			}
		}
		return false
	}
	for _, c := range p {
		if t.isStart[c] {
			return true
		}
	}
	return false
}

// replaceAll returns data with every form of the keys replaced, read
// whole.
func (m *matcher) replaceAll(data []byte) []byte {
	out, _ := m.scan(data, true, nil)
	return out
}

// Cut returns data, the first bytes of a body whose rest is not handed on
// (an error answer cut at [MaxBody], or one the upstream broke off),
// without its tail if that may be the start of a form of the key that a
// [Reader] looks for: the half of a key that straddles the cut is no
// more handed on than the whole key is.
func (r Redactor) Cut(data []byte) []byte {
	m := newMatcher(r)
	_, rest := m.scan(data, false, nil)
	return data[:rest]
}

// Reader is a body with the key's every form replaced as it streams.
// Closing it closes the body it reads.
type Reader struct {
	rc   io.ReadCloser
	m    matcher
	held []byte // read, not yet decided: it may start a form
	out  []byte // decided, not yet read
	off  int    // out[off:] is still to read
	err  error  // the body's, once out is read
}

// NewReader returns rc with r's key replaced, as it streams.
func NewReader(rc io.ReadCloser, r Redactor) *Reader {
	b := &Reader{rc: rc}
	b.m.init(r)
	return b
}

// Read reads the body, the key's forms replaced: at once what cannot be
// part of one, and a tail that may be only once the next bytes decide it.
func (b *Reader) Read(p []byte) (int, error) {
	for {
		if b.off < len(b.out) {
			n := copy(p, b.out[b.off:])
			b.off += n
			return n, nil
		}
		b.out, b.off = b.out[:0], 0
		if b.err != nil {
			return 0, b.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		var (
			n   int
			err error
		)
		if len(b.held) == 0 {
			// Read into p, and hand it on as it is when no byte may
			// start a form: the common case, and no copy.
			n, err = b.rc.Read(p)
			if !b.m.mayStart(p[:n]) {
				b.err = err
				return n, err
			}
			b.held = append(b.held, p[:n]...)
		} else {
			h := len(b.held)
			b.held = slices.Grow(b.held, len(p))[:h+len(p)]
			n, err = b.rc.Read(b.held[h:])
			b.held = b.held[:h+n]
		}
		var rest int
		b.out, rest = b.m.scan(b.held, err == io.EOF, b.out)
		b.held = b.held[:copy(b.held, b.held[rest:])]
		if err != nil {
			// At the end every byte was decided; a body cut short drops
			// what was held back (an undecided start of the key, perhaps).
			b.held, b.err = b.held[:0], err
		}
	}
}

// Close closes the body read.
func (b *Reader) Close() error { return b.rc.Close() }

// Conn is the connection of a 101 Switching Protocols answer, read with
// the key's every form replaced by as many '*': the upgraded protocol
// (WebSocket) frames its messages by their length. What the caller writes
// goes as it is. Closing it closes the connection.
type Conn struct {
	*Reader
	w io.Writer
}

// NewConn returns rwc with r's key replaced in what is read.
func NewConn(rwc io.ReadWriteCloser, r Redactor) *Conn {
	b := NewReader(rwc, r)
	b.m.sameLen = true
	return &Conn{b, rwc}
}

// Write writes p to the connection as it is.
func (c *Conn) Write(p []byte) (int, error) { return c.w.Write(p) }
