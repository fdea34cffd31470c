// Package iniconfig reads the INI file of keys, the one parser of that
// format for the jongler package and the apijongler command.
//
// The file has a section per connector, each line "name = value" (or
// "name: value") a key, and optional sections "[CONNECTOR:projects]" and
// "[CONNECTOR:budgets]". Values are taken literally: no interpolation, no
// inline comment, no continuation, quotes kept; whole-line comments start
// with '#' or ';'. The whole file is read once, with every line's number.
//
// No error of this package shows a line of the file, nor any text that is
// a key's value anywhere in the file: errors give line numbers, key names
// and what is wrong, and [File.Redact] is applied to every message that
// names something read from the file.
package iniconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Suffixes of the sections that qualify a connector's.
const (
	ProjectsSuffix = ":projects"
	BudgetsSuffix  = ":budgets"
)

// shortText is the length below which a text of a ":projects" or
// ":budgets" value may be quoted in an error: no API key is that short
// (Gemini's have 39 characters, Hugging Face's 37), and a name mistyped
// by a person usually is. Longer texts are not shown.
const shortText = 16

// quoteShort quotes s if it is shorter than shortText, else says that a
// long what is not shown.
func quoteShort(s, what string) string {
	if len(s) < shortText {
		return strconv.Quote(s)
	}
	return "a long " + what + " (not shown: it may be a key)"
}

// minSecret is the length from which a value is redacted from messages:
// shorter ones would mangle ordinary words, and no real API key is that
// short (messages never quote values anyway; this is the second line).
const minSecret = 6

// Entry is one "name = value" line.
type Entry struct {
	Name  string // trimmed, case kept
	Value string // trimmed, otherwise literal
	Line  int    // 1-based
}

// Section is every line under the headers of one name (a name given twice
// is one section).
type Section struct {
	Name    string
	Line    int // the line of its first header
	Entries []Entry
}

// File is a parsed INI file of keys.
type File struct {
	Path     string
	sections []*Section
	secrets  []string // longest first
}

// Key is a connector's key as the file gives it.
type Key struct {
	Name, Value, Project string
	Line                 int
}

// Budget is a line of a "[CONNECTOR:budgets]" section.
type Budget struct {
	Model             string
	PerMinute, PerDay int
	Line              int
}

// Connector is what the file says of one connector.
type Connector struct {
	Keys    []Key
	Budgets []Budget
}

// ExampleSection is the section shown when a file lacks the connector's.
func ExampleSection(connector string) string {
	return fmt.Sprintf("[%s]\nkey1 = your-api-key-1\nkey2 = your-api-key-2", connector)
}

// MissingError is the error for a configuration file that does not exist,
// with a section for connector to start it with.
func MissingError(path, connector string) error {
	return fmt.Errorf("jongler: config file %s does not exist; create it with a section such as:\n%s", path, ExampleSection(connector))
}

// Read reads and parses the file at path. A file that does not exist is
// an error for which errors.Is(err, fs.ErrNotExist) holds; the caller says
// how to create it ([MissingError]).
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("jongler: config file: %w", err)
	}
	return Parse(path, data)
}

// notShown ends the messages about a line whose text may hold a key.
const notShown = "(the line is not shown: it may hold a key)"

// Parse parses data, the content of the file at path.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var cur *Section
	for n, line := range lines(data) {
		n++
		t := strings.TrimSpace(line)
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
			continue
		case t[0] == '[':
			end := strings.IndexByte(t, ']')
			if end < 0 {
				return nil, fmt.Errorf("jongler: config file %s:%d: unclosed section header %s", path, n, notShown)
			}
			if rest := strings.TrimSpace(t[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return nil, fmt.Errorf("jongler: config file %s:%d: text after the section header %s", path, n, notShown)
			}
			name := strings.TrimSpace(t[1:end])
			if name == "" {
				return nil, fmt.Errorf("jongler: config file %s:%d: empty section name", path, n)
			}
			cur = f.section(name, n)
			continue
		}
		i := strings.IndexAny(t, "=:")
		if i < 0 {
			return nil, fmt.Errorf("jongler: config file %s:%d: key-value delimiter not found %s", path, n, notShown)
		}
		name := strings.TrimSpace(t[:i])
		if name == "" {
			return nil, fmt.Errorf("jongler: config file %s:%d: empty key name %s", path, n, notShown)
		}
		if cur == nil { // lines before any header, as configparser's DEFAULT
			cur = f.section("DEFAULT", n)
		}
		cur.Entries = append(cur.Entries, Entry{Name: name, Value: strings.TrimSpace(t[i+1:]), Line: n})
	}
	f.collectSecrets()
	return f, nil
}

// lines splits data at "\n", "\r\n" and a lone "\r".
func lines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

func (f *File) section(name string, line int) *Section {
	if s := f.Section(name); s != nil {
		return s
	}
	s := &Section{Name: name, Line: line}
	f.sections = append(f.sections, s)
	return s
}

// Section returns the section called name, nil if there is none.
func (f *File) Section(name string) *Section {
	for _, s := range f.sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Connectors returns the names of the connector sections, in file order:
// every section but DEFAULT and the ":projects" and ":budgets" ones.
func (f *File) Connectors() []string {
	var out []string
	for _, s := range f.sections {
		if s.Name != "DEFAULT" && !strings.HasSuffix(s.Name, ProjectsSuffix) && !strings.HasSuffix(s.Name, BudgetsSuffix) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Qualifiers returns the names of the ":projects" and ":budgets" sections
// whose connector has no section of its own, in file order.
func (f *File) Qualifiers() []string {
	var out []string
	for _, s := range f.sections {
		base, ok := strings.CutSuffix(s.Name, ProjectsSuffix)
		if !ok {
			base, ok = strings.CutSuffix(s.Name, BudgetsSuffix)
		}
		if ok && f.Section(base) == nil {
			out = append(out, s.Name)
		}
	}
	return out
}

// collectSecrets gathers every text of the file that is or may be a key:
// the values of every section but the ":projects" and ":budgets" ones;
// in those, the names listed that are no key's name and the parts of
// budgets, when they are too long to be anything but a key (errors quote
// the shorter ones).
func (f *File) collectSecrets() {
	names := map[string]bool{}
	for _, s := range f.sections {
		if !strings.HasSuffix(s.Name, ProjectsSuffix) && !strings.HasSuffix(s.Name, BudgetsSuffix) {
			for _, e := range s.Entries {
				names[e.Name] = true
			}
		}
	}
	add := func(v string, least int) {
		if len(v) >= least && !slices.Contains(f.secrets, v) {
			f.secrets = append(f.secrets, v)
		}
	}
	for _, s := range f.sections {
		for _, e := range s.Entries {
			switch {
			case strings.HasSuffix(s.Name, ProjectsSuffix):
				for kn := range strings.SplitSeq(e.Value, ",") {
					if kn = strings.TrimSpace(kn); !names[kn] {
						add(kn, shortText)
					}
				}
			case strings.HasSuffix(s.Name, BudgetsSuffix):
				for part := range strings.SplitSeq(e.Value, ",") {
					add(strings.TrimSpace(part), shortText)
				}
			default:
				add(e.Value, minSecret)
			}
		}
	}
	slices.SortFunc(f.secrets, func(a, b string) int { return len(b) - len(a) })
}

// Secrets returns every text of the file that is or may be a key's value,
// longest first (shorter ones than a real key are left out), so that a
// program can keep them out of everything it prints.
func (f *File) Secrets() []string { return slices.Clone(f.secrets) }

// Redact returns s with every text of [File.Secrets] replaced by
// "[redacted]".
func (f *File) Redact(s string) string {
	for _, v := range f.secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// errorf is an error about line of the file, redacted.
func (f *File) errorf(line int, format string, args ...any) error {
	return errors.New(f.Redact(fmt.Sprintf("jongler: config file %s:%d: ", f.Path, line) + fmt.Sprintf(format, args...)))
}

// Connector returns the keys, projects and budgets of the connector
// called name, checked: a section with at least one key, each given once
// with a value; projects that name keys of the section, each key in one
// project at most; budgets that read as such. The connector's sections
// may be named by name or by one of its aliases, one name a kind of
// section.
func (f *File) Connector(name string, aliases ...string) (Connector, error) {
	names := append([]string{name}, aliases...)
	sec, err := f.pick(names, "")
	if err != nil {
		return Connector{}, err
	}
	if sec == nil {
		return Connector{}, errors.New(f.Redact(fmt.Sprintf("jongler: config file %s has no section [%s]; add one such as:\n%s", f.Path, name, ExampleSection(name))))
	}
	var keys []Key
	for _, e := range sec.Entries {
		if n := countNamed(sec.Entries, e.Name); n > 1 {
			return Connector{}, f.errorf(e.Line, "key %q is given %d times in [%s]", e.Name, n, sec.Name)
		}
		if e.Value == "" {
			return Connector{}, f.errorf(e.Line, "key %q in [%s] has an empty value", e.Name, sec.Name)
		}
		keys = append(keys, Key{Name: e.Name, Value: e.Value, Project: e.Name, Line: e.Line})
	}
	if len(keys) == 0 {
		return Connector{}, errors.New(f.Redact(fmt.Sprintf("jongler: config file %s: section [%s] has no keys; add lines such as:\n%s", f.Path, sec.Name, ExampleSection(sec.Name))))
	}
	projects, err := f.pick(names, ProjectsSuffix)
	if err != nil {
		return Connector{}, err
	}
	if err := f.assignProjects(projects, sec.Name, keys); err != nil {
		return Connector{}, err
	}
	budgets, err := f.pick(names, BudgetsSuffix)
	if err != nil {
		return Connector{}, err
	}
	bs, err := f.budgets(budgets)
	if err != nil {
		return Connector{}, err
	}
	return Connector{Keys: keys, Budgets: bs}, nil
}

// pick returns the section named one of names followed by suffix, nil if
// none is; two of them are an error.
func (f *File) pick(names []string, suffix string) (*Section, error) {
	var found *Section
	for _, n := range names {
		s := f.Section(n + suffix)
		if s == nil || s == found {
			continue
		}
		if found != nil {
			if s.Line < found.Line {
				s, found = found, s
			}
			return nil, f.errorf(s.Line, "[%s] and [%s] (line %d) are for one connector, %s; keep one", s.Name, found.Name, found.Line, names[0])
		}
		found = s
	}
	return found, nil
}

func countNamed(es []Entry, name string) int {
	n := 0
	for _, e := range es {
		if e.Name == name {
			n++
		}
	}
	return n
}

// assignProjects applies the "[CONNECTOR:projects]" section sec, if any,
// to the keys of section connector. A long name that is no key's is not
// shown: it may be a key pasted there.
func (f *File) assignProjects(sec *Section, connector string, keys []Key) error {
	if sec == nil {
		return nil
	}
	seen := map[string]string{}
	for _, p := range sec.Entries {
		for kn := range strings.SplitSeq(p.Value, ",") {
			kn = strings.TrimSpace(kn)
			if kn == "" {
				continue
			}
			i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == kn })
			if i < 0 {
				names := make([]string, len(keys))
				for j, k := range keys {
					names[j] = k.Name
				}
				return f.errorf(p.Line, "project %q names a key not in [%s] (its keys: %s): %s",
					p.Name, connector, strings.Join(names, ", "), quoteShort(kn, "name"))
			}
			if prev, dup := seen[kn]; dup {
				return f.errorf(p.Line, "key %q is in projects %q and %q", kn, prev, p.Name)
			}
			seen[kn] = p.Name
			keys[i].Project = p.Name
		}
	}
	return nil
}

// budgets reads the "[CONNECTOR:budgets]" section sec, if any: lines
// "MODEL = N/min, N/day".
func (f *File) budgets(sec *Section) ([]Budget, error) {
	if sec == nil {
		return nil, nil
	}
	name := sec.Name
	var out []Budget
	for _, e := range sec.Entries {
		if n := countNamed(sec.Entries, e.Name); n > 1 {
			return nil, f.errorf(e.Line, "[%s] model %q has %d budgets", name, e.Name, n)
		}
		b, err := parseBudget(e.Name, e.Value)
		if err != nil {
			return nil, f.errorf(e.Line, "[%s] %s: %v", name, e.Name, err)
		}
		b.Line = e.Line
		out = append(out, b)
	}
	return out, nil
}

// parseBudget reads spec, "10/min, 250/day", the budget of model. Its
// errors show a part of spec only when it is too short to be a key.
func parseBudget(model, spec string) (Budget, error) {
	b := Budget{Model: model}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		shown := quoteShort(part, "text")
		num, unit, ok := strings.Cut(part, "/")
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if !ok || err != nil || n <= 0 {
			return b, fmt.Errorf("want N/min or N/day with N > 0, got %s", shown)
		}
		switch unit = strings.TrimSpace(unit); unit {
		case "min", "minute", "m":
			b.PerMinute = n
		case "day", "d":
			b.PerDay = n
		default:
			return b, fmt.Errorf("want a unit of min or day, got %s", shown)
		}
	}
	if b.PerMinute == 0 && b.PerDay == 0 {
		return b, errors.New("no limit given; write N/min, N/day")
	}
	return b, nil
}
