package keyfile

import (
	"errors"
	"strings"
	"unicode"

	"gopkg.in/ini.v1"
)

// layout is the file scanned line by line as Python's configparser reads
// it: the text gopkg.in/ini.v1 is given, and where each section header and
// key line of the file is, since ini.v1 keeps no line numbers.
type layout struct {
	text  []string // the lines ini.v1 reads
	from  []int    // the file's line of each of them
	heads []place  // the section headers
	keys  []place  // the key lines, with their sections
	err   *problem // the first problem that ini.v1 would not see
}

// place is a section header (section only) or a key line.
type place struct {
	section, name string
	line          int
}

// problem is what is wrong at a line of the file, in words that show none
// of its text.
type problem struct {
	line int
	what string
}

// key is a key line and the lines that continue its value.
type key struct {
	name, value string
	line        int
	more        []string // "" for a blank line between two of them
}

// scan reads data as configparser does and lays it out for ini.v1, whose
// reading differs in ways no [ini.LoadOptions] field changes: every key
// and header line starts at the left margin, and only the lines that
// configparser takes for the continuation of a value (indented deeper
// than its key) are indented, one space; comments and the blank lines
// around a value are left out; a value that ini.v1 would read as a quoted
// string (it begins with a backquote or three double quotes) begins on
// the next line, as if it went on from an empty one; a name that it would
// read so (it begins with a quote) is enclosed in a quote it does not
// hold, which ini.v1 removes. Lines end at "\n", "\r\n" or a lone "\r", as with
// Python's universal newlines; a UTF-8 byte order mark is skipped.
func scan(data []byte) *layout {
	l := &layout{}
	section, inSection := "", false
	var k *key  // the key being read
	indent := 0 // of the last header or key line
	blanks := 0 // blank lines since the last line of k
	for i, raw := range splitLines(data) {
		n := i + 1
		t := strings.TrimSpace(raw)
		if t == "" {
			blanks++
			continue
		}
		if t[0] == '#' || t[0] == ';' { // a comment, indented or not
			continue
		}
		in := len(raw) - len(strings.TrimLeftFunc(raw, unicode.IsSpace))
		if k != nil && in > indent {
			for ; blanks > 0; blanks-- {
				k.more = append(k.more, "")
			}
			k.more = append(k.more, t)
			continue
		}
		l.emitKey(k)
		k, blanks, indent = nil, 0, in
		switch i := strings.IndexAny(t, "=:"); {
		case t[0] == '[':
			end := strings.LastIndexByte(t, ']')
			if end < 0 { // ini.v1 says so
				l.add(t, n)
				continue
			}
			if rest := strings.TrimSpace(t[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				l.fail(n, "text after the section header "+notShown)
			}
			section, inSection = strings.TrimSpace(t[1:end]), true
			l.heads = append(l.heads, place{section: section, line: n})
			l.add("["+section+"]", n)
		case i <= 0: // no name or no delimiter: ini.v1 says so
			l.add(t, n)
		case !inSection:
			l.fail(n, "a key line before any section header; put it under its connector's section "+notShown)
		default:
			k = &key{name: strings.TrimSpace(t[:i]), value: strings.TrimSpace(t[i+1:]), line: n}
			l.keys = append(l.keys, place{section, k.name, n})
		}
	}
	l.emitKey(k)
	return l
}

// splitLines splits data into lines as Python's universal newlines do.
func splitLines(data []byte) []string {
	s := strings.TrimPrefix(string(data), "\xef\xbb\xbf")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
}

// add appends a line for ini.v1, from line of the file.
func (l *layout) add(text string, line int) {
	l.text = append(l.text, text)
	l.from = append(l.from, line)
}

// fail notes a problem at line, unless one was noted before.
func (l *layout) fail(line int, what string) {
	if l.err == nil {
		l.err = &problem{line, what}
	}
}

// emitKey lays k out for ini.v1.
func (l *layout) emitKey(k *key) {
	if k == nil {
		return
	}
	name := k.name
	if name[0] == '"' || name[0] == '`' {
		q := "`" // a quote the name does not hold
		if strings.Contains(name, q) {
			q = `"`
		}
		if strings.Contains(name, q) {
			l.fail(k.line, "a key name that starts with a quote mark and holds both ` and \"; rename it")
			return
		}
		name = q + name + q
	}
	first, more := name+" = "+k.value, k.more
	if strings.HasPrefix(k.value, "`") || strings.HasPrefix(k.value, `"""`) {
		// ini.v1 reads a value that begins so as a quoted string, unless
		// it begins on the line after its key's, as one going on does.
		first, more = name+" =", append([]string{k.value}, k.more...)
	}
	l.add(first, k.line)
	for _, t := range more {
		l.add(" "+t, k.line)
	}
}

// iniError says where and what the error ini.v1 returned is, without its
// text, which may quote a line of the file.
func (l *layout) iniError(err error) problem {
	var noDelim ini.ErrDelimiterNotFound
	var noName ini.ErrEmptyKeyName
	msg := err.Error()
	switch {
	case errors.As(err, &noDelim):
		return problem{l.lineOf(func(t string) bool { return t == strings.TrimSpace(noDelim.Line) }), "key-value delimiter not found " + notShown}
	case errors.As(err, &noName):
		return problem{l.lineOf(func(t string) bool { return t == strings.TrimSpace(noName.Line) }), "empty key name " + notShown}
	case strings.HasPrefix(msg, "unclosed section"):
		return problem{l.lineOf(func(t string) bool { return t[0] == '[' && !strings.Contains(t, "]") }), "unclosed section header " + notShown}
	case msg == "empty section name":
		return problem{l.lineOf(func(t string) bool { return t == "[]" }), "empty section name"}
	}
	if i := strings.IndexAny(msg, ":\"'`"); i >= 0 {
		msg = msg[:i]
	}
	return problem{0, "cannot be read: " + strings.TrimSpace(msg) + " " + notShown}
}

// lineOf returns the file's line of the first line laid out for ini.v1
// that starts at the margin and is, 0 if none is.
func (l *layout) lineOf(is func(text string) bool) int {
	for i, t := range l.text {
		if t != "" && t[0] != ' ' && is(t) {
			return l.from[i]
		}
	}
	return 0
}

// headLine returns the line of the first header of section, 0 if none.
func (l *layout) headLine(section string) int {
	for _, h := range l.heads {
		if h.section == section {
			return h.line
		}
	}
	return 0
}

// keyLines returns the line of the first key line of section called name
// in any case, and how many of them there are.
func (l *layout) keyLines(section, name string) (line, count int) {
	for _, k := range l.keys {
		if k.section == section && strings.EqualFold(k.name, name) {
			if count == 0 {
				line = k.line
			}
			count++
		}
	}
	return line, count
}
