package keyfile

import (
	"errors"
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
		{"key name is a key", "[d]\nk = " + key + "\n[c]\n" + key + " = \n", `keys.ini:4: key "[redacted]" in [c] has an empty value`},
		{"no keys", "[c]\n[c:projects]\np = " + key + "\n", "section [c] has no keys"},
		{"no section", "[d]\nk = " + key + "\n", "keys.ini has no section [c]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("keys.ini", []byte(tc.ini))
			if err == nil {
				_, err = f.Connector("c")
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "jongler: config file keys.ini") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want one with %q", msg, tc.want)
			}
			if strings.Contains(msg, key[:12]) || strings.Contains(msg, key[12:]) {
				t.Errorf("error %q shows the key", msg)
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
			f, err := Parse("keys.ini", []byte(tc.ini))
			if err == nil {
				_, err = f.Connector("c")
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want one with %q", msg, tc.want)
			}
			if strings.Contains(msg, key[:12]) || strings.Contains(msg, key[12:]) {
				t.Errorf("error %q shows the key", msg)
			}
		})
	}
}
