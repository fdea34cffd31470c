// Package keyfile reads the INI file of keys, for the jongler package and
// the apijongler command: gopkg.in/ini.v1 parses it, set and fed so that a
// file reads as the original's Python configparser reads it, and this
// package checks what the file says of a connector.
//
// The file has a section per connector, each line "name = value" (or
// "name: value") a key, and optional sections "[CONNECTOR:projects]" and
// "[CONNECTOR:budgets]". As configparser reads it: the first '=' or ':'
// of a line ends the name; values are taken literally (no interpolation,
// no inline comment, quotes and a trailing backslash kept); whole-line
// comments start with '#' or ';', indented or not; a line indented deeper
// than the key above it continues that key's value; the keys of
// [DEFAULT] are keys of every connector section too; key names are
// compared regardless of case (and shown as first written), section names
// as written; a key line before any section header is an error.
// Unlike configparser, a section given twice is one section, a section
// name is trimmed, and a UTF-8 byte order mark is skipped.
//
// Values that the file allows but an upstream refuses as a key are read
// and warned of ([Connector].Warnings): quotes around a value, a comment
// after it, a value on more than one line, a key of [DEFAULT].
//
// No error or warning of this package shows a line of the file, nor any
// text that is a key's value anywhere in the file: messages give line
// numbers, key names and what is wrong, and [File.Redact] is applied to
// every message that names something read from the file.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/api-jongler/jongler/internal/egress"
	"github.com/api-jongler/jongler/internal/fsguard"
)

// Suffixes of the sections that qualify a connector's.
const (
	ProjectsSuffix = ":projects"
	BudgetsSuffix  = ":budgets"
	EgressSuffix   = ":egress"
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

// entry is a key of a section and its value.
type entry struct {
	name   string   // as first written
	value  string   // trimmed, otherwise literal
	values []string // every value given to the name (it may be given twice)
	line   int      // of its first line, 0 if unknown
	count  int      // how many lines give the name
}

// section is every line under the headers of one name (a name given twice
// is one section).
type section struct {
	name    string
	line    int // the line of its first header
	entries []entry
}

// File is a parsed INI file of keys.
type File struct {
	Path     string
	sections []*section
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

// Egress is a line of a "[CONNECTOR:egress]" section: a key's name, a
// project's or "*", and its way out as written ("direct" or proxy URLs,
// passwords and all: never show Value).
type Egress struct {
	Name, Value string
	Line        int
}

// Connector is what the file says of one connector.
type Connector struct {
	Keys    []Key
	Budgets []Budget
	Egress  []Egress
	// BaseURL is the section's base_url ([BaseURLSetting]) without a
	// trailing slash, "" if it has none.
	BaseURL string
	// Warnings are about keys that the file gives as Python's
	// configparser reads it but that an upstream will refuse; they name
	// the key and its line, never its value.
	Warnings []string
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
	data, err := fsguard.ReadRegular(path, "config file", maxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if fsguard.IsRefusal(err) {
		return nil, err // names the file and what is wrong
	}
	if err != nil {
		return nil, fmt.Errorf("jongler: config file: %w", err)
	}
	return Parse(path, data)
}

// maxFileSize bounds the INI file read: a few hundred keys take a few
// kilobytes.
const maxFileSize = 4 << 20

// notShown ends the messages about a line whose text may hold a key.
const notShown = "(the line is not shown: it may hold a key)"

// loadOptions make ini.v1 read a value as configparser does, in the
// layout [scan] gives the file.
func loadOptions() ini.LoadOptions {
	return ini.LoadOptions{
		KeyValueDelimiters:         "=:",
		IgnoreInlineComment:        true, // "k = v ; c" is the value "v ; c"
		IgnoreContinuation:         true, // a trailing \ is part of the value
		PreserveSurroundedQuote:    true, // so are quotes around it
		AllowPythonMultilineValues: true, // an indented line goes on with the value
		AllowShadows:               true, // a name given twice keeps both values, for Secrets
	}
}

// Parse parses data, the content of the file at path.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	l := scan(data)
	parsed, err := ini.LoadSources(loadOptions(), []byte(strings.Join(l.text, "\n")+"\n"))
	if err != nil {
		p := l.iniError(err)
		if l.err != nil && (p.line == 0 || l.err.line < p.line) {
			p = *l.err
		}
		return nil, f.errorf(p.line, "%s", p.what)
	}
	if l.err != nil {
		return nil, f.errorf(l.err.line, "%s", l.err.what)
	}
	for _, name := range parsed.SectionStrings() {
		s := &section{name: name, line: l.headLine(name)}
		if name == ini.DefaultSection && s.line == 0 {
			continue // ini.v1's own, never written
		}
		for _, k := range parsed.Section(name).Keys() {
			e := entry{name: k.Name(), value: tidy(k.Value())}
			for _, v := range k.ValueWithShadows() {
				e.values = append(e.values, tidy(v))
			}
			e.line, e.count = l.keyLines(name, e.name)
			s.entries = append(s.entries, e)
		}
		f.sections = append(f.sections, s)
	}
	f.collectSecrets()
	return f, nil
}

// tidy trims each line of a value and the value, as configparser does.
func tidy(v string) string {
	if !strings.Contains(v, "\n") {
		return strings.TrimSpace(v)
	}
	lines := strings.Split(v, "\n")
	for i, s := range lines {
		lines[i] = strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// section returns the section called name, nil if there is none.
func (f *File) section(name string) *section {
	for _, s := range f.sections {
		if s.name == name {
			return s
		}
	}
	return nil
}

// A Setting is a line of a section that is not a connector's, such as
// serve's settings: its name as written, its value and its line.
type Setting struct {
	Name  string
	Value string
	Line  int // of its first line
	Count int // how many lines give the name: more than one is a mistake
}

// Settings returns the lines of the section called name, in file order,
// without those of [DEFAULT]; nil if there is no such section. A name
// given on several lines is given once, with its first Line and its Count.
func (f *File) Settings(name string) []Setting {
	sec := f.section(name)
	if sec == nil {
		return nil
	}
	out := make([]Setting, 0, len(sec.entries))
	for _, e := range sec.entries {
		out = append(out, Setting{Name: e.name, Value: e.value, Line: e.line, Count: e.count})
	}
	return out
}

// Connectors returns the names of the connector sections, in file order:
// every section but DEFAULT and the ":projects", ":budgets" and ":egress"
// ones.
func (f *File) Connectors() []string {
	var out []string
	for _, s := range f.sections {
		if s.name != ini.DefaultSection && !isQualifier(s.name) {
			out = append(out, s.name)
		}
	}
	return out
}

// SectionName names the section called name for a message: where it is in
// the file, and its name only when it is too short to be a key (a key
// pasted as a section header is a section name too).
func (f *File) SectionName(name string) string {
	shown := quoteShort(name, "name")
	for _, s := range f.sections {
		if s.name == name && s.line > 0 {
			return fmt.Sprintf("%s at %s:%d", shown, f.Path, s.line)
		}
	}
	return shown
}

// isQualifier reports whether the section called name is a ":projects"
// or ":budgets" one.
func isQualifier(name string) bool {
	return strings.HasSuffix(name, ProjectsSuffix) || strings.HasSuffix(name, BudgetsSuffix) || strings.HasSuffix(name, EgressSuffix)
}

// Base returns the connector a qualifier section (":projects",
// ":budgets", ":egress") is for, and whether name is one.
func Base(name string) (string, bool) {
	for _, suffix := range [...]string{ProjectsSuffix, BudgetsSuffix, EgressSuffix} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base, true
		}
	}
	return name, false
}

// Qualifiers returns the names of the ":projects" and ":budgets" sections
// whose connector has no section of its own, in file order.
func (f *File) Qualifiers() []string {
	var out []string
	for _, s := range f.sections {
		if base, ok := Base(s.name); ok && f.section(base) == nil {
			out = append(out, s.name)
		}
	}
	return out
}

// collectSecrets gathers every text of the file that is or may be a key:
// the values of every section but the ":projects" and ":budgets" ones
// (and each line of a value on several lines, with what follows a
// delimiter on it: a key line indented by mistake); in those two, the
// names listed that are no key's name and the parts of budgets, when they
// are too long to be anything but a key (errors quote the shorter ones).
func (f *File) collectSecrets() {
	seen := map[string]bool{}
	add := func(v string, least int) {
		if len(v) >= least && !seen[v] {
			seen[v] = true
			f.secrets = append(f.secrets, v)
		}
	}
	for _, s := range f.sections {
		if s.name == RoutesSection {
			continue // names of connectors and models, shown in logs (see Routes)
		}
		for _, e := range s.entries {
			switch {
			case strings.HasSuffix(s.name, ProjectsSuffix):
				for kn := range strings.SplitSeq(e.value, ",") {
					if kn = strings.TrimSpace(kn); !f.isKeyName(kn) {
						add(kn, shortText)
					}
				}
			case strings.HasSuffix(s.name, BudgetsSuffix):
				for part := range strings.SplitSeq(e.value, ",") {
					add(strings.TrimSpace(part), shortText)
				}
			case strings.HasSuffix(s.name, EgressSuffix):
				for _, v := range e.values {
					for _, secret := range egress.Secrets(v) {
						add(secret, minSecret)
					}
				}
			case isBaseURL(e.name) && validBaseURL(e.value):
				// An address, not secret: shown where the requests go.
			default:
				for _, v := range e.values {
					add(v, minSecret)
					if !strings.Contains(v, "\n") {
						continue
					}
					for line := range strings.SplitSeq(v, "\n") {
						add(line, minSecret)
						if i := strings.IndexAny(line, "=:"); i >= 0 {
							add(strings.TrimSpace(line[i+1:]), minSecret)
						}
					}
				}
			}
		}
	}
	slices.SortFunc(f.secrets, func(a, b string) int { return len(b) - len(a) })
}

// keySections returns the sections of keys: all but the ":projects" and
// ":budgets" ones.
func (f *File) keySections() []*section {
	return slices.DeleteFunc(slices.Clone(f.sections), func(s *section) bool { return isQualifier(s.name) })
}

// isKeyName reports whether s is the name of a key of any section of keys.
func (f *File) isKeyName(s string) bool {
	for _, sec := range f.keySections() {
		if slices.ContainsFunc(sec.entries, func(e entry) bool { return strings.EqualFold(e.name, s) }) {
			return true
		}
	}
	return false
}

// isKeyValue reports whether s is the value of a key of any section of
// keys: a name that is one would be shown and stored as if it were not
// secret.
func (f *File) isKeyValue(s string) bool {
	if len(s) < minSecret {
		return false
	}
	for _, sec := range f.keySections() {
		for _, e := range sec.entries {
			if slices.Contains(e.values, s) {
				return true
			}
		}
	}
	return false
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

// errorf is an error about line of the file (0: unknown), redacted.
func (f *File) errorf(line int, format string, args ...any) error {
	return errors.New(f.messagef(line, format, args...))
}

// messagef is a message about line of the file (0: unknown), redacted.
func (f *File) messagef(line int, format string, args ...any) string {
	at := f.Path
	if line > 0 {
		at = fmt.Sprintf("%s:%d", f.Path, line)
	}
	return f.Redact("jongler: config file " + at + ": " + fmt.Sprintf(format, args...))
}

// Connector returns the keys, projects and budgets of the connector
// called name, checked: a section with at least one key (its own or one of
// [DEFAULT]), each given once with a value; projects that name keys of the
// section, each key in one project at most; budgets that read as such.
// The connector's sections may be named by name or by one of its aliases,
// one name a kind of section.
func (f *File) Connector(name string, aliases ...string) (Connector, error) {
	names := append([]string{name}, aliases...)
	sec, err := f.pick(names, "")
	if err != nil {
		return Connector{}, err
	}
	if sec == nil {
		return Connector{}, errors.New(f.Redact(fmt.Sprintf("jongler: config file %s has no section [%s]; add one such as:\n%s", f.Path, name, ExampleSection(name))))
	}
	var c Connector
	if c.Keys, c.Warnings, err = f.keys(sec); err != nil {
		return Connector{}, err
	}
	if c.BaseURL, err = f.baseURL(sec); err != nil {
		return Connector{}, err
	}
	if len(c.Keys) == 0 {
		return Connector{}, errors.New(f.Redact(fmt.Sprintf("jongler: config file %s: section [%s] has no keys; add lines such as:\n%s", f.Path, sec.name, ExampleSection(sec.name))))
	}
	projects, err := f.pick(names, ProjectsSuffix)
	if err != nil {
		return Connector{}, err
	}
	if err := f.assignProjects(projects, sec.name, c.Keys); err != nil {
		return Connector{}, err
	}
	budgets, err := f.pick(names, BudgetsSuffix)
	if err != nil {
		return Connector{}, err
	}
	if c.Budgets, err = f.budgets(budgets); err != nil {
		return Connector{}, err
	}
	egressSec, err := f.pick(names, EgressSuffix)
	if err != nil {
		return Connector{}, err
	}
	if c.Egress, err = f.egress(egressSec, c.Keys); err != nil {
		return Connector{}, err
	}
	return c, nil
}

// egress reads the "[CONNECTOR:egress]" section sec, if any: lines
// "NAME = WAY", NAME a key's name, a project's or "*", WAY "direct" or
// proxy URLs. Its errors name the section and NAME, never a URL.
func (f *File) egress(sec *section, keys []Key) ([]Egress, error) {
	if sec == nil {
		return nil, nil
	}
	var out []Egress
	for _, e := range sec.entries {
		if e.count > 1 {
			return nil, f.errorf(e.line, "[%s] %s is given %d times", sec.name, quoteShort(e.name, "name"), e.count)
		}
		known := e.name == "*" || slices.ContainsFunc(keys, func(k Key) bool {
			return strings.EqualFold(k.Name, e.name) || strings.EqualFold(k.Project, e.name)
		})
		if !known {
			return nil, f.errorf(e.line, "[%s] %s is no key or project of the connector, nor *", sec.name, quoteShort(e.name, "name"))
		}
		if _, err := egress.Parse(e.value); err != nil {
			return nil, f.errorf(e.line, "[%s] %s: %v", sec.name, e.name, err)
		}
		out = append(out, Egress{Name: e.name, Value: e.value, Line: e.line})
	}
	return out, nil
}

// EgressTable returns the egress lines of c by name.
func (c Connector) EgressTable() egress.Table {
	if len(c.Egress) == 0 {
		return nil
	}
	t := make(egress.Table, len(c.Egress))
	for _, e := range c.Egress {
		t[e.Name] = e.Value
	}
	return t
}

// keys returns the keys of sec, with those of [DEFAULT] it does not name
// itself, checked, and the warnings about them.
func (f *File) keys(sec *section) ([]Key, []string, error) {
	var keys []Key
	var warnings []string
	add := func(from *section, e entry) error {
		if isBaseURL(e.name) {
			return nil // not a key: see baseURL
		}
		if e.count > 1 {
			return f.errorf(e.line, "key %q is given %d times in [%s]", e.name, e.count, from.name)
		}
		if e.value == "" {
			return f.errorf(e.line, "key %q in [%s] has an empty value", e.name, from.name)
		}
		if f.isKeyValue(e.name) {
			return f.errorf(e.line, "a key in [%s] is named with a key's value; name it otherwise", from.name)
		}
		keys = append(keys, Key{Name: e.name, Value: e.value, Project: e.name, Line: e.line})
		if from != sec {
			warnings = append(warnings, f.messagef(e.line, "key %q of [DEFAULT] is a key of [%s] too, as Python's configparser reads the file (every section gets the keys of [DEFAULT]); move it into the section of its connector", e.name, sec.name))
		}
		if w := refused(e.value); w != "" {
			warnings = append(warnings, f.messagef(e.line, "key %q in [%s]: %s", e.name, from.name, w))
		}
		return nil
	}
	for _, e := range sec.entries {
		if err := add(sec, e); err != nil {
			return nil, nil, err
		}
	}
	if def := f.section(ini.DefaultSection); def != nil && def != sec {
		for _, e := range def.entries {
			if slices.ContainsFunc(sec.entries, func(o entry) bool { return strings.EqualFold(o.name, e.name) }) {
				continue // the section's own wins
			}
			if err := add(def, e); err != nil {
				return nil, nil, err
			}
		}
	}
	if i, j, ok := SameValue(len(keys), func(i int) string { return keys[i].Value }); ok {
		return nil, nil, f.errorf(keys[j].Line, "keys %q (line %d) and %q of [%s] have the same value; %s",
			keys[i].Name, keys[i].Line, keys[j].Name, sec.name, SameValueFix)
	}
	return keys, warnings, nil
}

// SameValueFix says what to do of one key value under two names.
const SameValueFix = "give each key once, under one name (under two, it would serve two requests at once)"

// SameValue returns the indexes i < j of the first two of n keys whose
// values (value(i)) are the same, and whether there are two such: one
// value under two names would serve two requests at once, each name's
// lease ignoring the other's. It is the one check of it, for the keys of
// a file and for keys given otherwise.
func SameValue(n int, value func(i int) string) (i, j int, ok bool) {
	seen := make(map[string]int, n)
	for j := range n {
		v := value(j)
		if i, dup := seen[v]; dup {
			return i, j, true
		}
		seen[v] = j
	}
	return 0, 0, false
}

// refused says why an upstream will refuse value as a key, as
// configparser reads it, and what to do; "" when nothing shows it will.
func refused(value string) string {
	const as = "as Python's configparser reads the file"
	switch {
	case strings.Contains(value, "\n"):
		return fmt.Sprintf("its value goes on over %d lines (a line indented deeper than a key continues its value, %s), and the upstream will refuse the key; unindent a line that is a key of its own", strings.Count(value, "\n")+1, as)
	case strings.ContainsAny(value[:1], "\"'`") || strings.ContainsAny(value[len(value)-1:], "\"'`"):
		return "the quote marks around its value are part of it, " + as + ", and the upstream will refuse the key; remove them"
	case strings.Contains(value, " #") || strings.Contains(value, " ;") || strings.Contains(value, "\t#") || strings.Contains(value, "\t;"):
		return "the comment after its value is part of it (a comment takes a line of its own, " + as + "), and the upstream will refuse the key; move the comment to a line of its own"
	}
	return ""
}

// pick returns the section named one of names followed by suffix, nil if
// none is; two of them are an error.
func (f *File) pick(names []string, suffix string) (*section, error) {
	var found *section
	for _, n := range names {
		s := f.section(n + suffix)
		if s == nil || s == found {
			continue
		}
		if found != nil {
			if s.line < found.line {
				s, found = found, s
			}
			return nil, f.errorf(s.line, "[%s] and [%s] (line %d) are for one connector, %s; keep one", s.name, found.name, found.line, names[0])
		}
		found = s
	}
	return found, nil
}

// assignProjects applies the "[CONNECTOR:projects]" section sec, if any,
// to the keys of section connector. A long name that is no key's is not
// shown: it may be a key pasted there.
func (f *File) assignProjects(sec *section, connector string, keys []Key) error {
	if sec == nil {
		return nil
	}
	seen := map[string]string{}
	for _, p := range sec.entries {
		for kn := range strings.SplitSeq(p.value, ",") {
			kn = strings.TrimSpace(kn)
			if kn == "" {
				continue
			}
			i := slices.IndexFunc(keys, func(k Key) bool { return strings.EqualFold(k.Name, kn) })
			if i < 0 {
				names := make([]string, len(keys))
				for j, k := range keys {
					names[j] = k.Name
				}
				return f.errorf(p.line, "project %q names a key not in [%s] (its keys: %s): %s",
					p.name, connector, strings.Join(names, ", "), quoteShort(kn, "name"))
			}
			if prev, dup := seen[keys[i].Name]; dup {
				return f.errorf(p.line, "key %q is in projects %q and %q", kn, prev, p.name)
			}
			seen[keys[i].Name] = p.name
			keys[i].Project = p.name
		}
		if f.isKeyValue(p.name) {
			// A project's name is not secret: status shows it, stores keep it.
			return f.errorf(p.line, "a project in [%s] is named with a key's value; name it otherwise", sec.name)
		}
	}
	return nil
}

// budgets reads the "[CONNECTOR:budgets]" section sec, if any: lines
// "MODEL = N/min, N/day".
func (f *File) budgets(sec *section) ([]Budget, error) {
	if sec == nil {
		return nil, nil
	}
	name := sec.name
	var out []Budget
	for _, e := range sec.entries {
		if e.count > 1 {
			return nil, f.errorf(e.line, "[%s] model %q has %d budgets", name, e.name, e.count)
		}
		b, err := parseBudget(e.name, e.value)
		if err != nil {
			return nil, f.errorf(e.line, "[%s] %s: %v", name, e.name, err)
		}
		if f.isKeyValue(e.name) {
			return nil, f.errorf(e.line, "a model in [%s] is named with a key's value; name it otherwise", name)
		}
		b.Line = e.line
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
