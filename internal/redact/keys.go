package redact

import (
	"bytes"
	"slices"
	"strings"
	"unsafe"
)

// A process may know many keys: a transport all of its connector's, serve
// those of every connector it serves. An upstream may echo any of them,
// not only the one it was sent, so every one is looked for in whatever
// comes back, in the same forms. Looking for each in turn would cost a
// search per key for each chunk of a stream and each log line (a thousand
// at a thousand keys); a Keys looks for all of them in one pass instead:
// their values make a trie, and each place in the text where a form may
// start walks it, decoding a byte at a time (raw, percent-encoded,
// JSON-escaped), as far as the text spells a path of the trie. Most places
// are ruled out by their first two bytes, whatever the number of keys.

// Keys is a set of key values to find in text, all at once. It does not
// change once made, and is safe for concurrent use. Make one with
// [NewKeys].
type Keys struct {
	values []string // by id
	ids    map[string]int32
	exact  trie
	fold   trie // the values in lower case, for header names
}

// NewKeys returns the set of values; "" and repeats are left out.
func NewKeys(values ...string) *Keys {
	k := &Keys{ids: make(map[string]int32, len(values))}
	for _, v := range values {
		if _, dup := k.ids[v]; v != "" && !dup {
			k.ids[v] = int32(len(k.values))
			k.values = append(k.values, v)
		}
	}
	lower := make([]string, len(k.values))
	for i, v := range k.values {
		lower[i] = lowerASCII(v)
	}
	k.exact.build(k.values)
	k.fold.build(lower)
	return k
}

// Len returns how many values k holds.
func (k *Keys) Len() int { return len(k.values) }

// id returns the id of value in k, or -1.
func (k *Keys) id(value string) int32 {
	if id, ok := k.ids[value]; ok {
		return id
	}
	return -1
}

// Redactor returns the Redactor of every value of k for a caller whose
// credential was placeholder ("" if it sent none), to whom key, one of
// k's values ("" for none), was lent: key is replaced by the placeholder
// (see [New]), every other value by [Placeholder].
func (k *Keys) Redactor(key, placeholder string) Redactor {
	r := Redactor{keys: k, lease: -1, with: Placeholder}
	if key != "" {
		r.lease = k.id(key)
		if r.lease < 0 {
			// Not one of k's: a set of its own, with the others'.
			r.keys = NewKeys(append(slices.Clone(k.values), key)...)
			r.lease = r.keys.id(key)
		}
	}
	if placeholder != "" && r.index(placeholder) < 0 {
		r.with = escapePlaceholder(placeholder)
	}
	return r
}

// trie holds the values of a Keys as paths from its root, node 0.
type trie struct {
	nodes  []tnode
	labels []byte  // the edges' bytes: node n's are labels[n.lo:n.hi]
	kids   []int32 // and the nodes they lead to
	root   [256]int32
	// starts are the bytes a form may start with; when few, they are
	// looked for with bytes.IndexByte, else with isStart.
	starts         []byte
	isStart        [256]bool
	minLen, maxLen int // the shortest value, the longest
}

type tnode struct {
	lo, hi int32
	term   int32 // 1 + the id of the value that ends here; 0 if none
}

// build makes t the trie of values, by id (no two the same): over the
// values in order, each node's edges made together, so that they lie
// side by side.
func (t *trie) build(values []string) {
	order := make([]int32, len(values))
	size := 1
	for i, v := range values {
		order[i] = int32(i)
		size += len(v)
		t.maxLen = max(t.maxLen, len(v))
		if i == 0 || len(v) < t.minLen {
			t.minLen = len(v)
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(values[a], values[b]) })
	t.nodes = make([]tnode, 1, size)
	t.labels = make([]byte, 0, size)
	t.kids = make([]int32, 0, size)
	var grow func(n int32, vs []int32, d int)
	grow = func(n int32, vs []int32, d int) {
		// vs share their first d bytes, the path to n; the shortest first.
		for len(vs) > 0 && len(values[vs[0]]) == d { // one, unless folded
			if t.nodes[n].term == 0 {
				t.nodes[n].term = vs[0] + 1
			}
			vs = vs[1:]
		}
		t.nodes[n].lo = int32(len(t.labels))
		for i := 0; i < len(vs); {
			c := values[vs[i]][d]
			t.labels = append(t.labels, c)
			t.kids = append(t.kids, int32(len(t.nodes)))
			t.nodes = append(t.nodes, tnode{})
			for i < len(vs) && values[vs[i]][d] == c {
				i++
			}
		}
		t.nodes[n].hi = int32(len(t.labels))
		for i, k := 0, t.nodes[n].lo; i < len(vs); k++ {
			j := i
			for j < len(vs) && values[vs[j]][d] == values[vs[i]][d] {
				j++
			}
			grow(t.kids[k], vs[i:j], d+1)
			i = j
		}
	}
	if len(values) > 0 {
		grow(0, order, 0)
	}
	for k := t.nodes[0].lo; k < t.nodes[0].hi; k++ {
		t.root[t.labels[k]] = t.kids[k]
	}
	// A form starts with a value's first byte, raw, or escaped ('%',
	// '\\'), or with '+' for a first byte that is a space.
	for c, k := range t.root {
		if k != 0 {
			t.isStart[c] = true
		}
	}
	if len(values) > 0 {
		t.isStart['%'], t.isStart['\\'] = true, true
		if t.root[' '] != 0 {
			t.isStart['+'] = true
		}
	}
	for c, ok := range t.isStart {
		if ok {
			t.starts = append(t.starts, byte(c))
		}
	}
}

// child returns the node the edge c leads to from n, or 0.
func (t *trie) child(n int32, c byte) int32 {
	if n == 0 {
		return t.root[c]
	}
	nd := t.nodes[n]
	switch nd.hi - nd.lo {
	case 0:
		return 0
	case 1:
		if t.labels[nd.lo] == c {
			return t.kids[nd.lo]
		}
		return 0
	}
	if i := bytes.IndexByte(t.labels[nd.lo:nd.hi], c); i >= 0 {
		return t.kids[nd.lo+int32(i)]
	}
	return 0
}

// leaf reports whether n leads nowhere.
func (t *trie) leaf(n int32) bool { return t.nodes[n].lo == t.nodes[n].hi && n != 0 }

// forms says which forms of a value are looked for, besides the value
// itself: percent-encoding nested depth times (-1: to any depth), with
// "+" for a space, and JSON's escapes ("\u0041", "\/", "\"", "\\") when
// json.
type forms struct {
	depth int
	json  bool
}

// Forms looked for: in a string read whole (a header, a URL, an error),
// and in a body as it streams (whose held-back tail must be bounded).
var (
	textForms   = forms{depth: -1}
	streamForms = forms{depth: streamDepth, json: true}
)

// walk is a place reached in the trie and in the text.
type walk struct{ node, pos int32 }

// walker holds the places a match has reached, reused from one match to
// the next.
type walker struct {
	cur, next []walk
	buf       [16]walk
}

func (w *walker) reset() {
	if w.cur == nil {
		w.cur, w.next = w.buf[:0:8], w.buf[8:8]
	}
}

// add adds the place (n, pos) to next, once; n 0 is no place.
func (w *walker) add(n int32, pos int) {
	if n == 0 {
		return
	}
	for _, x := range w.next {
		if x.node == n && x.pos == int32(pos) {
			return
		}
	}
	w.next = append(w.next, walk{n, int32(pos)})
}

// match returns the length of the longest form of a value of t that s
// starts with (0 if none) and that value's id, and whether more bytes
// after s could change that: a form not yet complete, or one a longer one
// might extend. At the text's end (eof), no more bytes can come.
func match(t *trie, w *walker, s []byte, f forms, eof bool) (n int, id int32, more bool) {
	w.reset()
	cur := append(w.cur[:0], walk{0, 0})
	id = -1
	for len(cur) > 0 {
		w.next = w.next[:0]
		for _, st := range cur {
			nd := t.nodes[st.node]
			p := int(st.pos)
			if nd.term != 0 && p > n {
				n, id = p, nd.term-1
			}
			if nd.lo == nd.hi && st.node != 0 {
				continue // a leaf: nothing longer this way
			}
			if p == len(s) {
				more = more || !eof
				continue
			}
			c := s[p]
			w.add(t.child(st.node, c), p+1)
			switch c {
			case '+':
				w.add(t.child(st.node, ' '), p+1)
			case '%':
				// '%', then "25" (an escaped '%') once per extra level,
				// then the two hex digits of a byte.
				for q, d := p+1, 1; f.depth < 0 || d <= f.depth; q, d = q+2, d+1 {
					if q+2 > len(s) {
						if !eof && (q == len(s) || isHex(s[q])) {
							more = true
						}
						break
					}
					v, ok := unhex2(s[q], s[q+1])
					if !ok {
						break
					}
					w.add(t.child(st.node, v), q+2)
					if v == '+' {
						w.add(t.child(st.node, ' '), q+2)
					}
					if v != '%' {
						break
					}
				}
			case '\\':
				if f.json {
					more = jsonForm(t, w, st.node, s, p, eof) || more
				}
			}
		}
		cur, w.next = w.next, cur
	}
	w.cur = cur
	return n, id, more
}

// jsonForm adds the place a JSON escape at s[p] (a '\\') leads to, and
// reports whether more bytes are needed to tell.
func jsonForm(t *trie, w *walker, n int32, s []byte, p int, eof bool) (more bool) {
	if p+1 >= len(s) {
		return !eof
	}
	switch e := s[p+1]; e {
	case '/', '"', '\\':
		w.add(t.child(n, e), p+2)
	case 'u':
		// "\u00" and two hex digits of an ASCII byte, in either case.
		var v byte
		for i := 2; i < 6; i++ {
			if p+i >= len(s) {
				return !eof
			}
			c := s[p+i]
			switch i {
			case 2, 3:
				if c != '0' {
					return false
				}
			default:
				x, ok := unhex(c)
				if !ok || i == 4 && x > 7 {
					return false
				}
				v = v<<4 | x
			}
		}
		w.add(t.child(n, v), p+6)
	}
	return false
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}

// cannotStart reports, from its first two bytes only, that s starts no
// form of a value of t: the quick answer for most places a scan stops at.
func (t *trie) cannotStart(s []byte, f forms) bool {
	if len(s) < 2 {
		return false
	}
	c, d := s[0], s[1]
	switch {
	case c == '%' && isHex(d),
		c == '\\' && f.json && (d == 'u' || d == '/' || d == '"' || d == '\\'),
		c == '+' && t.root[' '] != 0:
		return false
	}
	k := t.root[c]
	if k == 0 {
		return true
	}
	if t.nodes[k].term != 0 || d == '%' || d == '+' || d == '\\' && f.json {
		return false
	}
	return t.child(k, d) == 0
}

// find returns the first form of a value of t in s at or after i: where
// it starts, its length and the value's id; -1 for where if there is
// none. Unless eof, it stops at the first place where bytes after s
// could decide a form (more: where is that place).
//
// *w is made at the first place worth a walk: most texts have none.
func (t *trie) find(w **walker, cu *cursor, s []byte, i int, f forms, eof bool) (where, n int, id int32, more bool) {
	for i < len(s) {
		c := cu.nextStart(t, s, i)
		if c == len(s) {
			break
		}
		if t.cannotStart(s[c:], f) {
			i = c + 1
			continue
		}
		if *w == nil {
			*w = new(walker)
		}
		n, id, more := match(t, *w, s[c:], f, eof)
		if more || n > 0 {
			return c, n, id, more
		}
		i = c + 1
	}
	return -1, 0, -1, false
}

// cursor finds the places where a form may start, from left to right in
// one text: where each start byte is next seen is kept, so that the text
// is searched for each once.
type cursor struct {
	next [4]int // by index in t.starts; < i: to search again
}

func newCursor() cursor { return cursor{next: [4]int{-1, -1, -1, -1}} }

// nextStart returns the first place at or after i where a byte of s may
// start a form, or len(s).
func (cu *cursor) nextStart(t *trie, s []byte, i int) int {
	if len(t.starts) > len(cu.next) {
		for ; i < len(s); i++ {
			if t.isStart[s[i]] {
				return i
			}
		}
		return i
	}
	c := len(s)
	for k, sb := range t.starts {
		if cu.next[k] < i {
			if j := bytes.IndexByte(s[i:], sb); j >= 0 {
				cu.next[k] = i + j
			} else {
				cu.next[k] = len(s)
			}
		}
		c = min(c, cu.next[k])
	}
	return c
}

// view returns s as bytes, without a copy: never to be written.
func view(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
