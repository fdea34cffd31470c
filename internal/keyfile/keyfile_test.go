package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sample = "\xef\xbb\xbf; keys\r\n" +
	"[gemini-like]\r\n" +
	"k1 = AIza-first-secret-0001 ; kept\r\n" +
	"k2: AIza-second-secret-0002\r" + // a lone CR ends a line too
	"  # indented comment\n" +
	"[gemini-like:projects]\n" +
	"shared = k1, k2\n" +
	"[gemini-like:budgets]\n" +
	"gemini-2.5-flash = 10/min, 250/day\n" +
	"[orphan:budgets]\n" +
	"* = 1/min\n" +
	"[ spaced ]  ; comment\n" +
	"k = hf_spaced_secret_0003\n" +
	"[gemini-like]\n" + // again: one section
	"k3 = AIza-third-secret-0004\n"

func TestParse(t *testing.T) {
	f, err := Parse("keys.ini", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Connectors(), []string{"gemini-like", "spaced"}; !slices.Equal(got, want) {
		t.Errorf("Connectors() = %q, want %q", got, want)
	}
	if got, want := f.Qualifiers(), []string{"orphan:budgets"}; !slices.Equal(got, want) {
		t.Errorf("Qualifiers() = %q, want %q", got, want)
	}
	c, err := f.Connector("gemini-like")
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []Key{
		{Name: "k1", Value: "AIza-first-secret-0001 ; kept", Project: "shared", Line: 3},
		{Name: "k2", Value: "AIza-second-secret-0002", Project: "shared", Line: 4},
		{Name: "k3", Value: "AIza-third-secret-0004", Project: "k3", Line: 15},
	}
	if !slices.Equal(c.Keys, wantKeys) {
		t.Errorf("keys %+v, want %+v", c.Keys, wantKeys)
	}
	if want := []Budget{{Model: "gemini-2.5-flash", PerMinute: 10, PerDay: 250, Line: 9}}; !slices.Equal(c.Budgets, want) {
		t.Errorf("budgets %+v, want %+v", c.Budgets, want)
	}
	for _, s := range []string{"AIza-first-secret-0001 ; kept", "AIza-second-secret-0002", "AIza-third-secret-0004", "hf_spaced_secret_0003"} {
		if !slices.Contains(f.Secrets(), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
	for _, s := range f.Secrets() {
		if s == "k1" || s == "k2" || strings.Contains(s, "/min") {
			t.Errorf("Secrets() holds %q, a key name or a budget", s)
		}
	}
	if got := f.Redact("a AIza-second-secret-0002 b"); got != "a [redacted] b" {
		t.Errorf("Redact: %q", got)
	}
}

func TestRead(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "none.ini"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v", err)
	}
	err = MissingError("none.ini", "x")
	if !strings.Contains(err.Error(), "none.ini does not exist") || !strings.Contains(err.Error(), "[x]\nkey1 = ") {
		t.Errorf("MissingError: %v", err)
	}
}

// connectorError returns the error of reading connector c from ini, whose
// message must not show key; no error fails the test.
func connectorError(t *testing.T, ini, key string) string {
	t.Helper()
	f, err := Parse("keys.ini", []byte(ini))
	if err == nil {
		_, err = f.Connector("c")
	}
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, key[:12]) || strings.Contains(msg, key[12:]) {
		t.Errorf("error %q shows the key", msg)
	}
	return msg
}

// TestErrorsShowNoKey: whatever is wrong, and wherever a key was pasted,
// no error shows it, and each names the file and line.
func TestErrorsShowNoKey(t *testing.T) {
	const key = "AIzaSyPASTED-0123456789abcdefghijklmno"
	for _, tc := range []struct{ name, ini, want string }{
		{"no delimiter", "[c]\nk1 = x\n" + key + "\n", "keys.ini:3: key-value delimiter not found"},
		{"empty name", "[c]\n= " + key + "\n", "keys.ini:2: empty key name"},
		{"unclosed header", "[c\nk = " + key + "\n", "keys.ini:1: unclosed section header"},
		{"text after header", "[c] " + key + "\nk = v\n", "keys.ini:1: text after the section header"},
		{"empty header", "[ ]\nk = " + key + "\n", "keys.ini:1: empty section name"},
		{"budget value", "[c]\nk1 = x\n[c:budgets]\nk1 = " + key + "\n", "keys.ini:4: [c:budgets] k1: want N/min or N/day with N > 0, got a long text"},
		{"budget unit", "[c]\nk1 = " + key + "\n[c:budgets]\nm = 5/" + key + "\n", "keys.ini:4: [c:budgets] m: want a unit of min or day, got a long text"},
		{"budget unit short", "[c]\nk1 = " + key + "\n[c:budgets]\nm = 5/hour\n", `keys.ini:4: [c:budgets] m: want a unit of min or day, got "5/hour"`},
		{"budget twice", "[c]\nk1 = " + key + "\n[c:budgets]\nm = 5/min\nm = 6/min\n", `keys.ini:4: [c:budgets] model "m" has 2 budgets`},
		{"budget model", "[c]\nk1 = " + key + "\n[c:budgets]\n" + key + " = 0/min\n", `keys.ini:4: [c:budgets] [redacted]: want N/min or N/day with N > 0, got "0/min"`},
		{"no limit", "[c]\nk1 = " + key + "\n[c:budgets]\nm = ,\n", "keys.ini:4: [c:budgets] m: no limit given"},
		{"project key", "[c]\nk1 = x\n[c:projects]\np = k1, " + key + "\n", "keys.ini:4: project \"p\" names a key not in [c] (its keys: k1): a long name (not shown: it may be a key)"},
		{"project short", "[c]\nk1 = " + key + "\n[c:projects]\np = k9\n", `keys.ini:4: project "p" names a key not in [c] (its keys: k1): "k9"`},
		{"project name", "[c]\nk1 = " + key + "\n[c:projects]\n" + key + " = k9\n", `keys.ini:4: project "[redacted]" names`},
		{"key in two projects", "[c]\nk1 = " + key + "\n[c:projects]\np = k1\nq = k1\n", `keys.ini:5: key "k1" is in projects "p" and "q"`},
		{"key twice", "[c]\nk1 = " + key + "\nk1 = y\n", `keys.ini:2: key "k1" is given 2 times in [c]`},
		{"value twice", "[c]\nk1 = " + key + "\nk2 = x\nk3 = " + key + "\n", `keys.ini:4: keys "k1" (line 2) and "k3" of [c] have the same value; give each key once`},
		{"value twice with [DEFAULT]", "[DEFAULT]\nshared = " + key + "\n[c]\nown = " + key + "\n", `keys.ini:2: keys "own" (line 4) and "shared" of [c] have the same value`},
		{"key name is a key", "[d]\nk = " + key + "\n[c]\n" + key + " = \n", `keys.ini:4: key "[redacted]" in [c] has an empty value`},
		{"no keys", "[c]\n[c:projects]\np = " + key + "\n", "section [c] has no keys"},
		{"no section", "[d]\nk = " + key + "\n", "keys.ini has no section [c]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := connectorError(t, tc.ini, key); !strings.HasPrefix(msg, "jongler: config file keys.ini") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want one with %q", msg, tc.want)
			}
		})
	}
}

// TestAliases: a connector's sections may be named by an alias, each kind
// of section once.
func TestAliases(t *testing.T) {
	const ini = "[gemini]\nk1 = AIza-alias-secret-0001\n[generativelanguage.googleapis.com:projects]\np = k1\n[gemini:budgets]\n* = 5/min\n"
	f, err := Parse("keys.ini", []byte(ini))
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Connector("generativelanguage.googleapis.com", "gemini")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Keys) != 1 || c.Keys[0].Project != "p" || len(c.Budgets) != 1 || c.Budgets[0].PerMinute != 5 {
		t.Errorf("got %+v", c)
	}
	if _, err := f.Connector("generativelanguage.googleapis.com"); err == nil || !strings.Contains(err.Error(), "no section [generativelanguage.googleapis.com]") {
		t.Errorf("without the alias: %v", err)
	}
	f, err = Parse("keys.ini", []byte(ini+"[generativelanguage.googleapis.com]\nk2 = AIza-alias-secret-0002\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Connector("generativelanguage.googleapis.com", "gemini")
	if err == nil || !strings.Contains(err.Error(), "keys.ini:7: [generativelanguage.googleapis.com] and [gemini] (line 1) are for one connector, generativelanguage.googleapis.com; keep one") {
		t.Errorf("two sections for one connector: %v", err)
	}
}

// TestNoNameIsAKey: a key's value pasted as a project's name (a valid
// section otherwise) was taken as the project's name, which is not secret:
// `apijongler serve`'s /status, the state files and a Redis store held
// the key. The same for a key or a budget's model named with a key's
// value. Each is an error that shows no key.
func TestNoNameIsAKey(t *testing.T) {
	const key = "AIzaSyPASTED-0123456789abcdefghijklmno"
	for _, tc := range []struct{ name, ini, want string }{
		{"project", "[c]\nk1 = " + key + "\n[c:projects]\n" + key + " = k1\n", "keys.ini:4: a project in [c:projects] is named with a key's value"},
		{"key", "[c]\nk1 = " + key + "\n" + key + " = other-value-1234\n", "keys.ini:3: a key in [c] is named with a key's value"},
		{"other section's key", "[d]\nk = " + key + "\n[c]\n" + key + " = other-value-1234\n", "keys.ini:4: a key in [c] is named with a key's value"},
		{"budget model", "[c]\nk1 = " + key + "\n[c:budgets]\n" + key + " = 5/min\n", "keys.ini:4: a model in [c:budgets] is named with a key's value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := connectorError(t, tc.ini, key); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want one with %q", msg, tc.want)
			}
		})
	}
}

// load parses ini as keys.ini and returns connector c, failing the test on
// an error.
func load(t *testing.T, ini string) Connector {
	t.Helper()
	f, err := Parse("keys.ini", []byte(ini))
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Connector("c")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// values returns the keys of c as name=value texts.
func values(c Connector) []string {
	var out []string
	for _, k := range c.Keys {
		out = append(out, k.Name+"="+k.Value)
	}
	return out
}

// TestKeyBeforeSection: a key line before any section header was read
// into an unused DEFAULT section, silently; it is an error naming the
// line, which it does not show. Comments and blank lines may come first.
func TestKeyBeforeSection(t *testing.T) {
	const key = "AIzaSyPASTED-0123456789abcdefghijklmno"
	for _, ini := range []string{
		"k = " + key + "\n[c]\nk1 = x\n",
		"; my keys\n\n  # indented\nk: " + key + "\n[c]\nk1 = x\n",
	} {
		_, err := Parse("keys.ini", []byte(ini))
		line := strings.Count(ini[:strings.Index(ini, key)], "\n") + 1
		want := fmt.Sprintf("jongler: config file keys.ini:%d: a key line before any section header", line)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want one starting %q", ini, err, want)
		} else if strings.Contains(err.Error(), key[:12]) {
			t.Errorf("error %q shows the key", err)
		}
	}
	if c := load(t, "# keys\n[c]\nk1 = AIza-after-0001\n"); len(c.Keys) != 1 {
		t.Errorf("keys %v", values(c))
	}
}

// TestRefusedValuesWarn: a value in quotes, followed by a comment or going
// on over an indented line loads as configparser reads it, and gets a
// warning that names the key and its line, never the value: the upstream
// will refuse such a key.
func TestRefusedValuesWarn(t *testing.T) {
	for _, tc := range []struct{ name, line, value, want string }{
		{"double quotes", `k1 = "AIza-quoted-0001"`, `"AIza-quoted-0001"`, "the quote marks around its value are part of it"},
		{"single quotes", `k1 = 'AIza-quoted-0001'`, `'AIza-quoted-0001'`, "the quote marks around its value are part of it"},
		{"opening quote", `k1 = "AIza-quoted-0001`, `"AIza-quoted-0001`, "the quote marks around its value are part of it"},
		{"hash comment", "k1 = AIza-commented-0002 # my main key", "AIza-commented-0002 # my main key", "the comment after its value is part of it"},
		{"semicolon comment", "k1 = AIza-commented-0002\t; spare", "AIza-commented-0002\t; spare", "the comment after its value is part of it"},
		{"indented key", "k1 = AIza-first-0003\n  k2 = AIza-second-0004", "AIza-first-0003\nk2 = AIza-second-0004", "its value goes on over 2 lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := load(t, "[c]\n"+tc.line+"\nk9 = AIza-plain-0009\n")
			if got := values(c); len(got) != 2 || got[0] != "k1="+tc.value {
				t.Errorf("keys %q, want k1=%q first", got, tc.value)
			}
			if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], `jongler: config file keys.ini:2: key "k1" in [c]: `+tc.want) {
				t.Fatalf("warnings %q, want one about k1 at line 2 saying %q", c.Warnings, tc.want)
			}
			if w := c.Warnings[0]; strings.Contains(w, "AIza") || !strings.Contains(w, "the upstream will refuse the key") {
				t.Errorf("warning %q shows a value or does not say why it matters", w)
			}
		})
	}
	// None for characters a key may hold, nor for a comment line.
	c := load(t, "[c]\nk1 = AIza-a;#b'c\"d\n# a comment\nk2 = AIza-plain-0002\n")
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %q, want none", c.Warnings)
	}
}

// TestContinuationLines: a line continues a value only when it is indented
// deeper than its key, as in configparser: keys indented alike are keys,
// comments among the lines are left out, blank lines kept inside, and a
// ":projects" list may go on over lines.
func TestContinuationLines(t *testing.T) {
	c := load(t, "[c]\n    k1 = AIza-one-0001\n    k2 = AIza-two-0002\n")
	if got, want := values(c), []string{"k1=AIza-one-0001", "k2=AIza-two-0002"}; !slices.Equal(got, want) || len(c.Warnings) != 0 {
		t.Errorf("keys indented alike: %q %q, want %q and no warning", got, c.Warnings, want)
	}
	c = load(t, "[c]\nk1 = first\n\n  # not part of it\n\n\tsecond\n   [not a header]\n\nk2 = AIza-two-0002\n")
	if got, want := values(c), []string{"k1=first\n\n\nsecond\n[not a header]", "k2=AIza-two-0002"}; !slices.Equal(got, want) {
		t.Errorf("continued: %q, want %q", got, want)
	}
	c = load(t, "[c]\nk1 = AIza-one-0001\nk2 = AIza-two-0002\n[c:projects]\np = k1,\n  k2\n")
	if c.Keys[0].Project != "p" || c.Keys[1].Project != "p" {
		t.Errorf("projects over two lines: %+v", c.Keys)
	}
}

// TestNamesWhateverTheirCase: key names keep their case but are one name
// whatever it, as configparser's are: two spellings are one key given
// twice, and a project names a key in any case.
func TestNamesWhateverTheirCase(t *testing.T) {
	f, err := Parse("keys.ini", []byte("[c]\nKey1 = AIza-one-0001\nkey1 = AIza-two-0002\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connector("c"); err == nil || !strings.Contains(err.Error(), `keys.ini:2: key "Key1" is given 2 times in [c]`) {
		t.Errorf("two spellings: %v", err)
	}
	c := load(t, "[c]\nKey1 = AIza-one-0001\n[c:projects]\nshared = KEY1\n")
	if c.Keys[0].Name != "Key1" || c.Keys[0].Project != "shared" {
		t.Errorf("keys %+v", c.Keys)
	}
	// Section names are compared as written.
	if _, err := f.Connector("C"); err == nil || !strings.Contains(err.Error(), "no section [C]") {
		t.Errorf("[C] found as [c]: %v", err)
	}
}

// TestDefaultSection: the keys of [DEFAULT] are keys of every connector
// section that does not name them itself, as in configparser, each with a
// warning; the qualifier sections get none.
func TestDefaultSection(t *testing.T) {
	const ini = "[DEFAULT]\nshared = AIza-default-0001\nk1 = AIza-default-0002\n[c]\nK1 = AIza-own-0003\n[c:budgets]\n* = 5/min\n[d]\nk = AIza-d-0004\n"
	c := load(t, ini)
	if got, want := values(c), []string{"K1=AIza-own-0003", "shared=AIza-default-0001"}; !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
	if len(c.Budgets) != 1 || len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], `jongler: config file keys.ini:2: key "shared" of [DEFAULT] is a key of [c] too`) || strings.Contains(c.Warnings[0], "AIza") {
		t.Errorf("budgets %+v, warnings %q", c.Budgets, c.Warnings)
	}
	f, err := Parse("keys.ini", []byte(ini))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Connectors(), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Errorf("Connectors() = %q, want %q", got, want)
	}
	if !slices.Contains(f.Secrets(), "AIza-default-0002") {
		t.Errorf("Secrets() lacks a value of [DEFAULT]")
	}
}

// TestQuotesReadAsWritten: gopkg.in/ini.v1 reads a value that begins with
// a backquote or three double quotes, and a name that begins with a
// quote, as a quoted string; configparser, and so this package, reads
// them as written, on one line or several.
func TestQuotesReadAsWritten(t *testing.T) {
	c := load(t, "[c]\nk1 = `raw`\nk2 = \"\"\"raw\n  more`\nk3 = `raw\n  more\n  end\"\"\"\n\"k4\" = v\n`k5` = w\n")
	want := []string{"k1=`raw`", "k2=\"\"\"raw\nmore`", "k3=`raw\nmore\nend\"\"\"", "\"k4\"=v", "`k5`=w"}
	if got := values(c); !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
	c = load(t, "[c]\nk1 = `AIza-both-0001\"\"\"\n  AIza-both-0002`\n  end\n")
	if got, want := values(c), []string{"k1=`AIza-both-0001\"\"\"\nAIza-both-0002`\nend"}; !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
	_, err := Parse("keys.ini", []byte("[c]\n\"k`1\" = AIza-name-0001\n"))
	if err == nil || !strings.Contains(err.Error(), "keys.ini:2: a key name that starts with a quote mark and holds both") || strings.Contains(err.Error(), "AIza") {
		t.Errorf("a name ini.v1 cannot be given: %v", err)
	}
}

// TestINIErrorLines: the line of an error of ini.v1 is found in the file
// whatever comes before it, and the first problem of the file is the one
// told.
func TestINIErrorLines(t *testing.T) {
	for _, tc := range []struct{ ini, want string }{
		{"[c]\nk1 = a\n  more\n\n# c\nAIzaSy-no-delimiter\n", "keys.ini:6: key-value delimiter not found"},
		{"[c]\nAIzaSy-no-delimiter\n[d] AIzaSy-after-header\n", "keys.ini:2: key-value delimiter not found"},
		{"[c] AIzaSy-after-header\nAIzaSy-no-delimiter\n", "keys.ini:1: text after the section header"},
		{"[c]\nk1 = a\n[d\n", "keys.ini:3: unclosed section header"},
	} {
		_, err := Parse("keys.ini", []byte(tc.ini))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "AIza") {
			t.Errorf("%q: error %v, want one with %q", tc.ini, err, tc.want)
		}
	}
}
