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

// matcher finds the forms of one key in a stream's bytes.
type matcher struct {
	key    string
	with   string
	starts []byte // the bytes a form may start with, in buf
	buf    [4]byte
	// sameLen: a form is replaced by as many '*' (an upgraded
	// connection's protocol frames its messages by their length).
	sameLen bool
	// cur and next are the positions reached in a form so far, reused;
	// their first home is pos.
	cur, next []int
	pos       [8]int
}

func newMatcher(key, with string) *matcher {
	m := &matcher{}
	m.init(key, with)
	return m
}

// init sets m up for key, to be replaced by with.
func (m *matcher) init(key, with string) {
	m.key, m.with = key, with
	m.cur, m.next = m.pos[:0:4], m.pos[4:4]
	k0 := key[0]
	m.starts = append(m.buf[:0], k0)
	for _, c := range []byte{'%', '\\', '+'} {
		switch {
		case c == k0,
			c == '\\' && k0 >= 0x80,
			c == '+' && k0 != ' ':
			continue
		}
		m.starts = append(m.starts, c)
	}
}

// match returns the length of the longest form of the key that s starts
// with (0 if none), and whether more bytes after s could change that: a
// form not yet complete, or one that a longer one might extend. At the
// body's end (eof), more bytes cannot come.
func (m *matcher) match(s []byte, eof bool) (n int, more bool) {
	cur := append(m.cur[:0], 0)
	next := m.next[:0]
	for j := 0; j < len(m.key); j++ {
		b := m.key[j]
		next = next[:0]
		for _, p := range cur {
			var short bool
			next, short = forms(s, p, b, eof, next)
			more = more || short
		}
		if len(next) == 0 {
			m.cur, m.next = cur, next
			return 0, more
		}
		cur, next = next, cur
	}
	for _, p := range cur {
		n = max(n, p)
	}
	m.cur, m.next = cur, next
	return n, more
}

// forms appends to out, once, where each form of b that s[p:] starts with
// ends in s, and reports whether s, cut short, could hold one more.
func forms(s []byte, p int, b byte, eof bool, out []int) ([]int, bool) {
	add := func(n int) {
		for _, o := range out {
			if o == p+n {
				return
			}
		}
		out = append(out, p+n)
	}
	s = s[p:]
	if len(s) == 0 {
		return out, !eof
	}
	short := false
	if s[0] == b || b == ' ' && s[0] == '+' {
		add(1)
	}
	switch s[0] {
	case '%':
		// '%', then "25" (an escaped '%') once per extra level, then the
		// hex digits of b (or of '+' for a space).
		for q, d := 1, 1; d <= streamDepth; q, d = q+2, d+1 {
			if len(s) < q+2 {
				short = !eof && (len(s) == q || hexCould(s[q], b, d))
				break
			}
			v, ok := unhex2(s[q], s[q+1])
			if !ok {
				break
			}
			if v == b || b == ' ' && v == '+' {
				add(q + 2)
			}
			if v != '%' {
				break
			}
		}
	case '\\':
		if b >= 0x80 || len(s) < 2 {
			short = !eof && len(s) < 2 && b < 0x80
			break
		}
		switch s[1] {
		case 'u':
			const hexdigits = "0123456789abcdef"
			want := [4]byte{'0', '0', hexdigits[b>>4], hexdigits[b&15]}
			i := 2
			for ; i < 6 && i < len(s); i++ {
				c := s[i]
				if 'A' <= c && c <= 'F' {
					c += 'a' - 'A'
				}
				if c != want[i-2] {
					break
				}
			}
			switch {
			case i == 6:
				add(6)
			case i == len(s):
				short = !eof
			}
		case '/', '"', '\\':
			if s[1] == b {
				add(2)
			}
		}
	}
	return out, short
}

// hexCould reports whether c, the first hex digit of an escape at depth d,
// could begin the escape of b, or that of '%' (a deeper escape).
func hexCould(c, b byte, d int) bool {
	v, ok := unhex(c)
	if !ok {
		return false
	}
	return v == b>>4 || b == ' ' && v == '+'>>4 || d < streamDepth && v == '%'>>4
}

// scan replaces the key's forms in data, appending the result to out. It
// stops at the first place where the bytes to come could decide a form,
// unless eof: it returns the result and where in data the undecided tail
// starts (len(data) if none).
func (m *matcher) scan(data []byte, eof bool, out []byte) ([]byte, int) {
	var next [4]int // where each start byte is next seen, from i on
	for k := range m.starts {
		next[k] = -1
	}
	last := 0 // data[last:] is not in out yet
	for i := 0; i < len(data); {
		c := len(data)
		for k, sb := range m.starts {
			if next[k] < i {
				if j := bytes.IndexByte(data[i:], sb); j >= 0 {
					next[k] = i + j
				} else {
					next[k] = len(data)
				}
			}
			c = min(c, next[k])
		}
		if c == len(data) {
			break
		}
		if m.cannotStart(data[c:]) {
			i = c + 1
			continue
		}
		n, more := m.match(data[c:], eof)
		switch {
		case more:
			return append(out, data[last:c]...), c
		case n > 0:
			out = append(out, data[last:c]...)
			if m.sameLen {
				for range n {
					out = append(out, '*')
				}
			} else {
				out = append(out, m.with...)
			}
			i, last = c+n, c+n
		default:
			i = c + 1
		}
	}
	return append(out, data[last:]...), len(data)
}

// cannotStart reports, from its first two bytes only, that s does not
// start a form: the quick answer for most bytes scan stops at (the key's
// first letter in a word, JSON's "\n").
func (m *matcher) cannotStart(s []byte) bool {
	if len(s) < 2 || len(m.key) < 2 {
		return false
	}
	c, d := s[0], s[1]
	k0, k1 := m.key[0], m.key[1]
	if c == k0 || k0 == ' ' && c == '+' { // the key's first byte, raw
		if d == k1 || d == '%' || d == '\\' && k1 < 0x80 || k1 == ' ' && d == '+' {
			return false
		}
	}
	switch c {
	case '%':
		_, ok := unhex(d)
		return !ok
	case '\\':
		return k0 >= 0x80 || d != 'u' && d != k0
	}
	return true
}

// mayStart reports whether a byte of p may start a form.
func (m *matcher) mayStart(p []byte) bool {
	for _, sb := range m.starts {
		if bytes.IndexByte(p, sb) >= 0 {
			return true
		}
	}
	return false
}

// replaceAll returns data with every form of the key replaced, read whole.
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
	m := newMatcher(r.key, r.with)
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
	b.m.init(r.key, r.with)
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
