package jongler_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

const gem = "generativelanguage.googleapis.com"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	path := writeFile(t, "APIJongler.ini", `; keys
[generativelanguage.googleapis.com]
Key1 = AIza-secret-one;#notacomment
key2: AIza-%(secret)s-two
MyKey3 = AIza-secret-three

[generativelanguage.googleapis.com:projects]
shared = Key1, key2

[generativelanguage.googleapis.com:budgets]
gemini-2.5-flash = 10/min, 250/day
* = 5/min

[api-inference.huggingface.co]
key1 = hf_x
`)
	cfg, err := jongler.LoadConfig(path, gem)
	if err != nil {
		t.Fatal(err)
	}
	want := []jongler.Key{
		{Name: "Key1", Value: "AIza-secret-one;#notacomment", Project: "shared"},
		{Name: "key2", Value: "AIza-%(secret)s-two", Project: "shared"},
		{Name: "MyKey3", Value: "AIza-secret-three", Project: "MyKey3"},
	}
	if len(cfg.Keys) != len(want) {
		t.Fatalf("keys %v, want %v", cfg.Keys, want)
	}
	for i := range want {
		if cfg.Keys[i] != want[i] {
			t.Fatalf("key %d = %#v, want %#v (names case-kept, values literal)", i, cfg.Keys[i], want[i])
		}
	}
	wantB := []jongler.Budget{{Model: "gemini-2.5-flash", PerMinute: 10, PerDay: 250}, {Model: "*", PerMinute: 5}}
	if len(cfg.Budgets) != 2 || cfg.Budgets[0] != wantB[0] || cfg.Budgets[1] != wantB[1] {
		t.Fatalf("budgets %+v, want %+v", cfg.Budgets, wantB)
	}
}

func TestConfigErrors(t *testing.T) {
	const secret = "AIza-never-shown-5e1f"
	tests := []struct {
		name    string
		ini     string
		want    []string // substrings of the error
		missing bool
	}{
		{"missing file", "", []string{"does not exist", "[generativelanguage.googleapis.com]", "key1 ="}, true},
		{"missing section", "[other]\nk = " + secret + "\n", []string{"no section [generativelanguage.googleapis.com]", "key1 = your-api-key-1"}, false},
		{"empty section", "[generativelanguage.googleapis.com]\n", []string{"has no keys"}, false},
		{"empty value", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\nk2 =\n", []string{":3:", `"k2"`, "empty value"}, false},
		{"duplicate key", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\nk2 = x\nk1 = " + secret + "y\n", []string{":2:", `"k1"`, "2 times"}, false},
		{"project names unknown key", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\n[generativelanguage.googleapis.com:projects]\np = k1, k9\n", []string{":4:", `"k9"`}, false},
		{"no delimiter", "[generativelanguage.googleapis.com]\nk1 = x\n" + secret + "\n", []string{":3:", "delimiter not found", "not shown"}, false},
		{"unclosed section", "[generativelanguage.googleapis.com\nk1 = " + secret + "\n", []string{":1:", "unclosed section header", "not shown"}, false},
		{"key outside a section", "k1 = " + secret, []string{":1:", "a key line before any section header", "not shown"}, false},
		// Issue 9: a key pasted by mistake into a :budgets or :projects
		// section, or anything else of the file, is never shown.
		{"key pasted as a budget", "[generativelanguage.googleapis.com]\nk1 = x1\nk2 = " + secret + "\n[generativelanguage.googleapis.com:budgets]\nk2 = " + secret + "\n", []string{":5:", "[generativelanguage.googleapis.com:budgets] k2", "not shown", "N/min"}, false},
		{"unknown key pasted as a budget", "[generativelanguage.googleapis.com]\nk1 = x1\n[generativelanguage.googleapis.com:budgets]\nk2 = " + secret + "\n", []string{":4:", "not shown"}, false},
		{"key pasted as a budget's model", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\n[generativelanguage.googleapis.com:budgets]\n" + secret + " = lots\n", []string{":4:", "[redacted]", `"lots"`}, false},
		{"key pasted in a project", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\n[generativelanguage.googleapis.com:projects]\np = k1, " + secret + "\n", []string{":4:", `project "p"`, "not shown", "its keys: k1"}, false},
		{"unknown key pasted in a project", "[generativelanguage.googleapis.com]\nk1 = x1\n[generativelanguage.googleapis.com:projects]\np = " + secret + "\n", []string{":4:", "not shown"}, false},
		{"key pasted as a project's name", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\n[generativelanguage.googleapis.com:projects]\n" + secret + " = k1, k9\n", []string{":4:", `project "[redacted]"`, `"k9"`}, false},
		{"key of another section pasted as a name", "[other]\nk = " + secret + "\n[generativelanguage.googleapis.com]\n" + secret + " = a\n" + secret + " = b\n", []string{":4:", `key "[redacted]" is given 2 times`}, false},
		{"bad budget", "[generativelanguage.googleapis.com]\nk1 = " + secret + "\n[generativelanguage.googleapis.com:budgets]\nm = lots\n", []string{":4:", "N/min"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.ini")
			if !tt.missing {
				path = writeFile(t, "keys.ini", tt.ini)
			}
			_, err := jongler.LoadConfig(path, gem)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(tt.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Fatalf("error shows a key value: %q", msg)
			}
			if !strings.HasPrefix(msg, "jongler: ") {
				t.Fatalf("error %q lacks the package prefix", msg)
			}
		})
	}
}

func TestNoConfigAtAll(t *testing.T) {
	t.Setenv(jongler.ConfigEnv, "")
	_, err := jongler.NewTransport(gem, jongler.WithStateDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "APIJONGLER_CONFIG") || !strings.Contains(err.Error(), "[generativelanguage.googleapis.com]") {
		t.Fatalf("err = %v, want one naming APIJONGLER_CONFIG with an example section", err)
	}
	path := writeFile(t, "k.ini", "[generativelanguage.googleapis.com]\nk = v\n")
	t.Setenv(jongler.ConfigEnv, path)
	tr, err := jongler.NewTransport(gem, jongler.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if names := tr.KeyNames(); len(names) != 1 || names[0] != "k" {
		t.Fatalf("keys from $APIJONGLER_CONFIG: %v", names)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := jongler.Key{Name: "k1", Value: "AIza-print-me-not", Project: "p"}
	for _, s := range []string{k.String(), k.GoString(), k.LogValue().String()} {
		if strings.Contains(s, k.Value) {
			t.Fatalf("%q shows the key's value", s)
		}
	}
}

// TestValuesTakenLiterally: quotes (three of them or a backquote too) and a
// trailing backslash are part of a value, as in the original's
// configparser; nothing swallows the next line.
func TestValuesTakenLiterally(t *testing.T) {
	path := writeFile(t, "k.ini", "[generativelanguage.googleapis.com]\nk1 = \"quoted\"\nk2 = end\\\nk3 = next\nk4 = \"\"\"raw\nk5 = `raw\n")
	cfg, err := jongler.LoadConfig(path, gem)
	keys := cfg.Keys
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k1": `"quoted"`, "k2": `end\`, "k3": "next", "k4": `"""raw`, "k5": "`raw"}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %d", keys, len(want))
	}
	for _, k := range keys {
		if want[k.Name] != k.Value {
			t.Errorf("%s = %q, want %q", k.Name, k.Value, want[k.Name])
		}
	}
}

// TestLoadConfigAlias: a bundled connector's sections may be named by its
// alias, and LoadConfig takes either name.
func TestLoadConfigAlias(t *testing.T) {
	path := writeFile(t, "k.ini", "[gemini]\nk1 = AIza-alias-one\n[gemini:budgets]\n* = 5/min\n")
	for _, name := range []string{jongler.ConnectorGemini, "gemini"} {
		cfg, err := jongler.LoadConfig(path, name)
		if err != nil {
			t.Fatalf("LoadConfig(%q): %v", name, err)
		}
		if len(cfg.Keys) != 1 || cfg.Keys[0].Name != "k1" || len(cfg.Budgets) != 1 {
			t.Fatalf("LoadConfig(%q) = %v", name, cfg)
		}
	}
}

// TestUserConnectorAliasSection: a user connector's sections may be named
// by its alias too, when the transport reads the INI file.
func TestUserConnectorAliasSection(t *testing.T) {
	dir := t.TempDir()
	conn := `{"name": "llm.example.com", "aliases": ["mine"], "host": "llm.example.com", "port": 443, "protocol": "https",
	"format": "json", "requires_api_key": true, "api_key_header": "x-api-key"}`
	if err := os.WriteFile(filepath.Join(dir, "llm.example.com.json"), []byte(conn), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "k.ini", "[mine]\nk1 = sk-alias-secret-1\n")
	tr, err := jongler.NewTransport("mine", jongler.WithConnectorsDir(dir), jongler.WithConfigFile(path), jongler.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if names := tr.KeyNames(); len(names) != 1 || names[0] != "k1" {
		t.Fatalf("keys %v", names)
	}
}

// TestOriginalREADMEFile: the file the original's README shows (copied
// into testdata/original) loads as its configparser read it, for both of
// its connectors, with no warning.
func TestOriginalREADMEFile(t *testing.T) {
	path := filepath.Join("testdata", "original", "APIJongler.ini")
	for conn, value := range map[string]string{gem: "your-gemini-api-key-", "api-inference.huggingface.co": "hf_your-huggingface-token-"} {
		cfg, err := jongler.LoadConfig(path, conn)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Keys) != 3 || len(cfg.Budgets) != 0 {
			t.Fatalf("%s: %+v", conn, cfg)
		}
		for i, k := range cfg.Keys {
			n := strconv.Itoa(i + 1)
			if want := (jongler.Key{Name: "key" + n, Value: value + n, Project: "key" + n}); k != want {
				t.Errorf("%s: key %d = %#v, want %#v", conn, i, k, want)
			}
		}
	}
	var log bytes.Buffer
	tr, err := jongler.NewTransport(gem, jongler.WithConfigFile(path), jongler.WithStateDir(t.TempDir()),
		jongler.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if log.Len() > 0 {
		t.Errorf("warnings for the original's file:\n%s", &log)
	}
}

// TestConfigWarnings: a key in quotes, followed by a comment or going on
// over an indented line loads as configparser reads it, since the
// original's files read so, and the transport's logger says which key and
// where, never its value: the upstream will refuse it.
func TestConfigWarnings(t *testing.T) {
	path := writeFile(t, "k.ini", "[generativelanguage.googleapis.com]\n"+
		"quoted = \"AIza-quoted-0001\"\n"+
		"commented = AIza-commented-0002  # my main key\n"+
		"first = AIza-first-0003\n"+
		"  second = AIza-second-0004\n"+
		"plain = AIza-plain-0005\n")
	var log bytes.Buffer
	tr, err := jongler.NewTransport(gem, jongler.WithConfigFile(path), jongler.WithStateDir(t.TempDir()),
		jongler.WithLogger(slog.New(slog.NewJSONHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got, want := tr.KeyNames(), []string{"commented", "first", "plain", "quoted"}; !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
	var msgs []string
	for line := range strings.Lines(log.String()) {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Level == "WARN" {
			msgs = append(msgs, rec.Msg)
		}
	}
	for i, want := range []string{
		`k.ini:2: key "quoted" in [generativelanguage.googleapis.com]: the quote marks around its value`,
		`k.ini:3: key "commented" in [generativelanguage.googleapis.com]: the comment after its value`,
		`k.ini:4: key "first" in [generativelanguage.googleapis.com]: its value goes on over 2 lines`,
	} {
		if i >= len(msgs) || !strings.Contains(msgs[i], want) {
			t.Errorf("warnings %q, want #%d with %q", msgs, i, want)
		}
	}
	if len(msgs) != 3 || strings.Contains(log.String(), "AIza") {
		t.Errorf("%d warnings, want 3 showing no value:\n%s", len(msgs), &log)
	}
}
