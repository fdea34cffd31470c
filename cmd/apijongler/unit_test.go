package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// Every run of apijongler in the scripts goes through aj, which scans its
// output for key values; exec would bypass that.
func TestScriptsScanEveryRun(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^\s*!?\s*exec\s+apijongler`).Match(data) {
			t.Errorf("%s runs apijongler with exec: use aj, which checks the output for key values", f)
		}
	}
}

func TestRedactor(t *testing.T) {
	const secret = "AIzaSyTHISISASECRET0123"
	var out bytes.Buffer
	r := newRedactor(&out)
	r.addKeys([]jongler.Key{{Name: "k1", Value: secret}, {Name: "short", Value: "abc"}})

	// The secret split across writes, at every place.
	text := "before " + secret + " middle " + secret + " after abc\n"
	for cut := 1; cut < len(text); cut++ {
		out.Reset()
		r.Write([]byte(text[:cut]))
		r.Write([]byte(text[cut:]))
		r.Flush()
		want := "before [redacted] middle [redacted] after abc\n"
		if out.String() != want {
			t.Fatalf("cut at %d: got %q, want %q", cut, out.String(), want)
		}
	}

	// Text that cannot begin a secret is not held back, so lines stream.
	out.Reset()
	r.Write([]byte("line one\n"))
	if out.String() != "line one\n" {
		t.Errorf("held back %q", "line one\n")
	}
	// A tail that may begin one is held until it is known not to.
	out.Reset()
	r.Write([]byte("ends with AIzaSy"))
	if got := out.String(); got != "ends with " {
		t.Errorf("wrote %q before knowing the tail", got)
	}
	r.Write([]byte("-not-a-key\n"))
	if got := out.String(); got != "ends with AIzaSy-not-a-key\n" {
		t.Errorf("got %q", got)
	}
	// Flush writes a held tail.
	out.Reset()
	r.Write([]byte("AIza"))
	r.Flush()
	if out.String() != "AIza" {
		t.Errorf("Flush wrote %q", out.String())
	}
}

func TestCheckJSON(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // the message, then the excerpt and caret lines
	}{
		{`{"a":1}`, ""},
		{"{\"a\":1}\n\n", ""},
		{`{"a":}`, " at line 1, column 6 (byte 5): invalid character '}' looking for beginning of value\n  {\"a\":}\n       ^"},
		{"{\n  \"a\": 1,\n}", " at line 3, column 1 (byte 12): invalid character '}' looking for beginning of object key string\n  }\n  ^"},
		{"{\"a\":\n", " at line 1, column 6 (byte 5): unexpected end of JSON input\n  {\"a\":\n       ^"},
		{`{"é":1} x`, " at line 1, column 9 (byte 9): invalid character 'x' after top-level value\n  {\"é\":1} x\n          ^"},
	} {
		err := checkJSON([]byte(tc.body))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("checkJSON(%q):\ngot  %q\nwant %q", tc.body, got, tc.want)
		}
	}
	// A long line is cut around the mistake, the caret still under it.
	long := `{"contents":"` + strings.Repeat("x", 200) + `",}`
	err := checkJSON([]byte(long))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %q", err)
	}
	col := strings.Index(lines[2], "^")
	if r := []rune(lines[1]); col >= len(r) || r[col] != '}' {
		t.Errorf("caret not under the mistake:\n%s\n%s", lines[1], lines[2])
	}
	if n := len([]rune(lines[1])); n > 80 {
		t.Errorf("excerpt of %d runes", n)
	}
}

func TestColorEnabled(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	var buf bytes.Buffer
	if colorEnabled(&buf, env(nil)) {
		t.Error("colour on a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if colorEnabled(f, env(nil)) {
		t.Error("colour on a file")
	}
	// On a terminal only NO_COLOR (not empty) and TERM=dumb turn it off;
	// the terminal case itself is checked when one is at hand.
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !colorEnabled(tty, env(map[string]string{"TERM": "xterm"})) {
			t.Error("no colour on a terminal")
		}
		if colorEnabled(tty, env(map[string]string{"NO_COLOR": "1"})) {
			t.Error("colour despite NO_COLOR")
		}
		if !colorEnabled(tty, env(map[string]string{"NO_COLOR": ""})) {
			t.Error("an empty NO_COLOR turned colour off")
		}
		if colorEnabled(tty, env(map[string]string{"TERM": "dumb"})) {
			t.Error("colour on a dumb terminal")
		}
	}
	a := &app{color: false}
	if got := a.paint(ansiRed, "x"); got != "x" {
		t.Errorf("paint without colour: %q", got)
	}
	a.color = true
	if got := a.paint(ansiRed, "x"); got != ansiRed+"x"+ansiReset {
		t.Errorf("paint with colour: %q", got)
	}
}

func TestBuildVersion(t *testing.T) {
	info := func(v string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: v}, Settings: settings}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		ldflags string
		info    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"v9.9.9", info("v1.0.0"), "v9.9.9"},
		{"", info("v1.2.3"), "v1.2.3"},
		{"", info("(devel)"), "devel"},
		{"", info("(devel)", debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}), "devel-0123456789ab"},
		{"", info("", debug.BuildSetting{Key: "vcs.revision", Value: "abc"}, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "devel-abc+dirty"},
		{"", none, "devel"},
	} {
		if got := buildVersion(tc.ldflags, tc.info); got != tc.want {
			t.Errorf("buildVersion(%q, ...) = %q, want %q", tc.ldflags, got, tc.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1234 * time.Millisecond:                       "1.2s",
		59*time.Second + 600*time.Millisecond:         "1m0s",
		3*time.Hour + 25*time.Minute + 31*time.Second: "3h26m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"api-inference.huggingface.co", "gemini", "generativelanguage.googleapis.com", "hf", "httpbin.org", "router.huggingface.co"}
	for _, tc := range []struct {
		typed string
		want  []string
	}{
		{"gemni", []string{"gemini"}},
		{"GEMINI", []string{"gemini"}},
		{"hg", []string{"hf"}},
		{"generativelanguage", []string{"generativelanguage.googleapis.com"}},
		{"huggingface", []string{"router.huggingface.co", "api-inference.huggingface.co"}},
		{"htpbin.org", []string{"httpbin.org"}},
		{"openai", nil},
	} {
		if got := suggest(tc.typed, names); !slices.Equal(got, tc.want) {
			t.Errorf("suggest(%q) = %q, want %q", tc.typed, got, tc.want)
		}
	}
	// Variables' names: parts between underscores count as those between dots.
	if got, want := suggest("HUGGINGFACE", []string{"GEMINI", "ROUTER_HUGGINGFACE_CO"}), []string{"ROUTER_HUGGINGFACE_CO"}; !slices.Equal(got, want) {
		t.Errorf("suggest(HUGGINGFACE) = %q, want %q", got, want)
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}

// TestWarnStrayKeysEnv: a variable of keys whose name is no connector's
// gets a warning with the variables it may be a typo of, never its value;
// one that names a connector or is empty gets none.
func TestWarnStrayKeysEnv(t *testing.T) {
	const secret = "AIza-stray-secret-0123456789"
	t.Setenv(jongler.ConnectorsDirEnv, "")
	t.Setenv("APIJONGLER_KEYS_GEMNI", "k1="+secret)
	t.Setenv("APIJONGLER_KEYS_HUGGINGFACE", "k1="+secret)
	t.Setenv("APIJONGLER_KEYS_NONESUCH", "k1="+secret)
	t.Setenv("APIJONGLER_KEYS_GEMINI", "k1="+secret)
	t.Setenv("APIJONGLER_KEYS_HGF", " ")
	var stderr bytes.Buffer
	a := newApp(nil, io.Discard, &stderr)
	a.warnStrayKeysEnv()
	got := stderr.String()
	for _, want := range []string{
		`APIJONGLER_KEYS_GEMNI names no connector; its keys are not served; did you mean APIJONGLER_KEYS_GEMINI?`,
		`APIJONGLER_KEYS_HUGGINGFACE names no connector; its keys are not served; did you mean APIJONGLER_KEYS_ROUTER_HUGGINGFACE_CO or APIJONGLER_KEYS_API_INFERENCE_HUGGINGFACE_CO?`,
		`APIJONGLER_KEYS_NONESUCH names no connector; its keys are not served"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "names no connector"); n != 3 {
		t.Errorf("%d warnings, want 3 (none for GEMINI, a connector's, nor for the empty HGF):\n%s", n, got)
	}
	if strings.Contains(got, "stray-secret") {
		t.Errorf("a warning shows the value:\n%s", got)
	}
}

func TestPrettySSE(t *testing.T) {
	in := "event: x\r\ndata: {\"a\":1}\r\n\r\ndata: not json\n: comment\ndata:{\"b\":[2]}\n\ndata: [DONE]"
	want := "event: x\ndata: {\n  \"a\": 1\n}\n\ndata: not json\n: comment\ndata: {\n  \"b\": [\n    2\n  ]\n}\n\ndata: [DONE]"
	var out bytes.Buffer
	if err := prettySSE(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestParseHeaders(t *testing.T) {
	h, host, err := parseHeaders([]string{"X-A: 1", "x-a:2", "Host: example.com", "Empty:"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Values("X-A"); !slices.Equal(got, []string{"1", "2"}) || host != "example.com" || h.Get("Empty") != "" || len(h) != 2 {
		t.Errorf("got %v, host %q", h, host)
	}
	for _, bad := range []string{"NoColon", ": v", "Bad Name: v", "X: a\nb"} {
		if _, _, err := parseHeaders([]string{bad}); err == nil {
			t.Errorf("parseHeaders(%q): no error", bad)
		}
	}
}
