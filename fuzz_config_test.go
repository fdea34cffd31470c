package jongler_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// secretToken is what the fuzz targets take for a key value: "sk-" and at
// least eight letters or digits. The seeds use such values.
var secretToken = regexp.MustCompile(`sk-[A-Za-z0-9]{8,}`)

// iniSecrets returns the secret tokens of an INI text that stand only
// where a key's value goes: after the delimiter of a line of a section
// other than ":projects" and ":budgets", or on a line with no delimiter at
// all; in those two sections (whose values are key names and budgets, fit
// to show) a token of 16 characters or more, which may be a key pasted
// there (issue 9). A token that also stands anywhere else (a key name, a
// section) is left out.
func iniSecrets(data string) []string {
	values, others := map[string]bool{}, map[string]bool{}
	section := ""
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			section = trimmed
			for _, tok := range secretToken.FindAllString(line, -1) {
				others[tok] = true
			}
			continue
		}
		name, value, found := strings.Cut(line, "=")
		if i := strings.IndexByte(line, ':'); i >= 0 && (!found || i < len(name)) {
			name, value, found = line[:i], line[i+1:], true
		}
		if !found {
			name, value = "", line
		}
		for _, tok := range secretToken.FindAllString(name, -1) {
			others[tok] = true
		}
		shown := strings.HasSuffix(section, ":projects]") || strings.HasSuffix(section, ":budgets]")
		for _, tok := range secretToken.FindAllString(value, -1) {
			if shown && len(tok) < 16 {
				others[tok] = true
			} else {
				values[tok] = true
			}
		}
	}
	var out []string
	for tok := range values {
		leaky := false
		for o := range others {
			if strings.Contains(o, tok) || strings.Contains(tok, o) {
				leaky = true
			}
		}
		if !leaky {
			out = append(out, tok)
		}
	}
	return out
}

// within runs f, failing the fuzz target with its input if f takes more
// than fuzzHang: a parser that hangs on some input is a finding too, which
// the fuzzer would otherwise only show as a stall.
func within(t *testing.T, input []byte, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(fuzzHang):
		t.Fatalf("no answer within %v for input %q", fuzzHang, input)
	}
}

const fuzzHang = 5 * time.Second

// FuzzLoadConfig feeds the INI loader any file: it must never panic, its
// errors must carry the package prefix and name the file, and no key
// value may appear in them; keys it returns have names and trimmed,
// non-empty values.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		"[generativelanguage.googleapis.com]\nkey1 = sk-fuzzsecret0001\nkey2 = sk-fuzzsecret0002\n",
		"[generativelanguage.googleapis.com]\nkey1 = sk-fuzzsecret0001\n[generativelanguage.googleapis.com:projects]\nproj = key1\n[generativelanguage.googleapis.com:budgets]\ngemini-2.5-flash = 10/min, 250/day\n* = 5/min\n",
		"[generativelanguage.googleapis.com]\nsk-fuzzsecret0003\n",
		"[generativelanguage.googleapis.com]\nk = sk-fuzzsecret0004\nk = sk-fuzzsecret0005\n",
		"[generativelanguage.googleapis.com]\nk =\n",
		"[generativelanguage.googleapis.com\nk = sk-fuzzsecret0006\n",
		"k = sk-fuzzsecret0007\n",
		"[other]\nk = sk-fuzzsecret0008\n",
		"[generativelanguage.googleapis.com]\nk: sk-fuzzsecret0009 ; not a comment\n",
		"[generativelanguage.googleapis.com]\nk = \"\"\"sk-fuzzsecret0010\nmore\"\"\"\n",
		"[generativelanguage.googleapis.com]\nk = sk-fuzzsecret0011\n[generativelanguage.googleapis.com:budgets]\nm = lots\n",
		"[generativelanguage.googleapis.com]\nk = sk-fuzzsecret0012\n[generativelanguage.googleapis.com:projects]\np = k, nobody\n",
		"\xef\xbb\xbf[generativelanguage.googleapis.com]\r\nk = sk-fuzzsecret0013\r\n",
		"[generativelanguage.googleapis.com]\nk = sk-fuzzsecret0014\n[generativelanguage.googleapis.com:budgets]\nk: \"sk-fuzzsecret0014\"\n",
		"[generativelanguage.googleapis.com]\nk = sk-fuzzsecret0015\n[generativelanguage.googleapis.com:projects]\np = k, sk-fuzzsecretpasted0016\n",
		"[other]\nk = sk-fuzzsecret0017\n[generativelanguage.googleapis.com]\nsk-fuzzsecret0017 = v\nsk-fuzzsecret0017 = w\n",
		"[DEFAULT]\nk = sk-fuzzsecret0018\n[generativelanguage.googleapis.com]\nk1 = sk-fuzzsecret0019\n",
		"[generativelanguage.googleapis.com]\nk1 = sk-fuzzsecret0020\n\n  # c\n  k2 = sk-fuzzsecret0021\n",
		"[generativelanguage.googleapis.com]\nk1 = `sk-fuzzsecret0022\n  more\"\"\"\n  end`\n\"k2\" = \"sk-fuzzsecret0023\" # c\n",
		"k = sk-fuzzsecret0024\n[generativelanguage.googleapis.com]\nk1 = v\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir() // one file, written again for each input: faster than a directory each
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "keys.ini")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var cfg jongler.Config
		var err error
		within(t, data, func() { cfg, err = jongler.LoadConfig(path, gem) })
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "jongler: ") || !strings.Contains(msg, path) {
				t.Fatalf("error without the prefix or the file's name: %q", msg)
			}
			for _, s := range iniSecrets(string(data)) {
				if strings.Contains(msg, s) {
					t.Fatalf("error shows the key value %q: %q", s, msg)
				}
			}
			return
		}
		if len(cfg.Keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range cfg.Keys {
			if k.Value == "" || strings.TrimSpace(k.Value) != k.Value {
				t.Fatalf("key %q: value empty or untrimmed", k.Name)
			}
			if k.Project == "" {
				t.Fatalf("key %q has no project", k.Name)
			}
		}
		for _, b := range cfg.Budgets {
			if b.PerMinute < 0 || b.PerDay < 0 || b.PerMinute == 0 && b.PerDay == 0 {
				t.Fatalf("budget %+v", b)
			}
		}
	})
}
