// Package docs_test checks the documentation against the code: every fenced
// code block of README.md, CONTRIBUTING.md, BENCHMARKS.md, DRILLS.md,
// cmd/apijongler/README.md and docs/*.md is compiled, loaded, run or at
// least checked, every test, fuzz target, benchmark and example they name
// exists, and every relative link they hold reaches its file and heading.
// DESIGN.md's picture of a request's path is a text block: every file and
// package it names must exist.
//
// The conventions, by a block's language:
//
//   - go: a block with a package clause is a whole program and is compiled
//     as it is. A block without one is a fragment: it is compiled as the body
//     of a function func(ctx context.Context, tr *jongler.Transport) error,
//     its imports found from the package names it uses (see imports below).
//     All blocks are compiled by one go build, against this module.
//   - sh, console: each command is checked. In a console block, commands
//     start with "$ " and the other lines are their output; a line
//     "(exit N)" says the command before it exits with N. apijongler
//     commands (and go run ./cmd/apijongler) are checked against the
//     command's own --help: the subcommand and every flag must exist, a
//     request needs a known connector, a method, a path and a JSON body.
//     The safe ones (demo, version, help, status, cleanup, and requests to
//     the Gemini connector) are run, against a temporary state directory and
//     a jonglertest server standing in for the Gemini API. go test, go run,
//     go install and bash lines must name packages, files, flags and tests
//     that exist; curl lines must address serve's documented address and a
//     route it serves. A token (--token, APIJONGLER_TOKENS) is at least 16
//     bytes.
//   - ini: every connector section loads with jongler.LoadConfig.
//   - json: decodes as a connector file, with jongler.Connectors.
//   - python, js: parsed by python3 (ast.parse) and node --check. In -short
//     mode a missing interpreter is reported in one line per block and the
//     block is not checked; otherwise it fails the test.
//
// Any other language, or a block with none, fails the test: a block the
// test cannot check is not allowed. Output goes in console blocks, after the
// command that prints it.
package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// root is the repository's root, from this package's directory.
const root = ".."

// documents are the files whose code blocks are checked.
func documents(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md", "BENCHMARKS.md", "DRILLS.md", "DESIGN.md", "cmd/apijongler/README.md"}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		files = append(files, filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator))))
	}
	return files
}

// A block is one fenced code block of a document.
type block struct {
	file string // relative to the repository's root
	line int    // of the block's first line of code, 1-based
	lang string
	code string
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var fence = regexp.MustCompile("^( {0,3})(```+|~~~+)[ \t]*([^ \t`]*)")

// blocks returns the fenced code blocks of the document at file.
func blocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, marks, lang := len(m[1]), m[2], strings.ToLower(m[3])
		b := block{file: file, line: i + 2, lang: lang}
		var code []string
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if closes(l, marks) {
				closed = true
				break
			}
			for n := 0; n < indent && strings.HasPrefix(l, " "); n++ {
				l = l[1:]
			}
			code = append(code, l)
		}
		if !closed {
			t.Errorf("%s: a code block is never closed", b)
		}
		b.code = strings.Join(code, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

// closes says whether line closes a block opened by marks: the same fence
// character, at least as many, indented by at most three spaces.
func closes(line, marks string) bool {
	trimmed := strings.TrimRight(strings.TrimLeft(line, " "), " \t")
	return len(line)-len(strings.TrimLeft(line, " ")) <= 3 &&
		len(trimmed) >= len(marks) && strings.Trim(trimmed, marks[:1]) == ""
}

// TestCodeBlocks checks every code block of the documents, by language.
func TestCodeBlocks(t *testing.T) {
	byLang := map[string][]block{}
	for _, f := range documents(t) {
		for _, b := range blocks(t, f) {
			byLang[b.lang] = append(byLang[b.lang], b)
		}
	}
	for lang, bs := range byLang {
		switch lang {
		case "go", "sh", "console", "ini", "json", "python", "js", "text":
		default:
			for _, b := range bs {
				t.Errorf("%s: a code block in %q, which this test cannot check: use go, sh, console, ini, json, python, js or text (see docs_test.go)", b, lang)
			}
		}
	}
	t.Run("go", func(t *testing.T) { checkGo(t, byLang["go"]) })
	t.Run("shell", func(t *testing.T) {
		c := newCLI(t)
		for _, b := range byLang["sh"] {
			checkShell(t, c, b, false)
		}
		for _, b := range byLang["console"] {
			checkShell(t, c, b, true)
		}
		t.Logf("ran %d apijongler commands: %s", len(c.ran), strings.Join(c.ran, " "))
	})
	t.Run("text", func(t *testing.T) {
		for _, b := range byLang["text"] {
			checkPicture(t, b)
		}
	})
	t.Run("ini", func(t *testing.T) {
		for _, b := range byLang["ini"] {
			checkINI(t, b)
		}
	})
	t.Run("json", func(t *testing.T) {
		for _, b := range byLang["json"] {
			checkConnector(t, b)
		}
	})
	t.Run("python", func(t *testing.T) {
		checkSyntax(t, byLang["python"], "python3", ".py", func(path string) []string {
			return []string{"-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", path}
		})
	})
	t.Run("js", func(t *testing.T) {
		checkSyntax(t, byLang["js"], "node", ".mjs", func(path string) []string {
			return []string{"--check", path}
		})
	})
}

// imports maps the package names a Go fragment may use to their paths.
var imports = map[string]string{
	"context":     "context",
	"errors":      "errors",
	"fmt":         "fmt",
	"io":          "io",
	"log":         "log",
	"slog":        "log/slog",
	"http":        "net/http",
	"os":          "os",
	"strings":     "strings",
	"time":        "time",
	"jongler":     "github.com/api-jongler/jongler",
	"compat":      "github.com/api-jongler/jongler/compat",
	"jonglertest": "github.com/api-jongler/jongler/jonglertest",
	"proxy":       "github.com/api-jongler/jongler/proxy",
	"redisstore":  "github.com/api-jongler/jongler/redisstore",
	"genai":       "google.golang.org/genai",
	"openai":      "github.com/openai/openai-go/v3",
	"option":      "github.com/openai/openai-go/v3/option",
	"redis":       "github.com/redis/go-redis/v9",
	"otel":        "go.opentelemetry.io/otel",
	"otelprom":    "go.opentelemetry.io/otel/exporters/prometheus",
	"sdkmetric":   "go.opentelemetry.io/otel/sdk/metric",
	"prometheus":  "github.com/prometheus/client_golang/prometheus",
	"promhttp":    "github.com/prometheus/client_golang/prometheus/promhttp",
}

// checkGo compiles every Go block with one go build: each becomes a
// package of its own in an overlay of this module, so nothing is written
// into the tree.
func checkGo(t *testing.T, bs []block) {
	if len(bs) == 0 {
		return
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, b := range bs {
		src, err := goSource(b, i)
		if err != nil {
			t.Errorf("%s: %v", b, err)
			continue
		}
		backing := filepath.Join(tmp, fmt.Sprintf("snippet%d.go", i))
		if err := os.WriteFile(backing, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := fmt.Sprintf("docs/internal/snippets/s%d", i)
		overlay[filepath.Join(abs, filepath.FromSlash(dir), "snippet.go")] = backing
		pkgs = append(pkgs, "./"+dir)
	}
	o, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ofile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ofile, o, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"build", "-overlay", ofile}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the Go blocks do not compile (positions are the documents'):\n%s", out)
	}
}

// goSource returns the Go source standing for block b: the program as it
// is, or the fragment wrapped in a function.
func goSource(b block, i int) (string, error) {
	pos := fmt.Sprintf("//line %s:%d\n", filepath.Join(root, b.file), b.line)
	if regexp.MustCompile(`(?m)^package \w+`).MatchString(b.code) {
		return pos + b.code, nil
	}
	used := map[string]bool{"context": true, "jongler": true}
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", -1, len(b.code)), []byte(b.code), nil, 0)
	prev := ""
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.PERIOD && imports[prev] != "" {
			used[prev] = true
		}
		prev = ""
		if tok == token.IDENT {
			prev = lit
		}
	}
	var head strings.Builder
	fmt.Fprintf(&head, "package s%d\n\nimport (\n", i)
	for _, name := range slices.Sorted(maps.Keys(used)) {
		fmt.Fprintf(&head, "\t%s %q\n", name, imports[name])
	}
	head.WriteString(")\n\nfunc fragment(ctx context.Context, tr *jongler.Transport) error {\n{\n")
	src := head.String() + pos + b.code + "}\nreturn nil\n}\n"
	// Names the fragment declares at its top level may be left unused by it,
	// as a reader's program would go on using them.
	f, err := parser.ParseFile(token.NewFileSet(), "", src, 0)
	if err != nil {
		return "", fmt.Errorf("does not parse as the body of a function: %v", err)
	}
	var names []string
	body := f.Decls[len(f.Decls)-1].(*ast.FuncDecl).Body.List[0].(*ast.BlockStmt)
	for _, st := range body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						names = append(names, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := st.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, sp := range g.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							names = append(names, id.Name)
						}
					}
				}
			}
		}
	}
	var uses strings.Builder
	for _, n := range names {
		fmt.Fprintf(&uses, "_ = %s\n", n)
	}
	return head.String() + pos + b.code + uses.String() + "}\nreturn nil\n}\n", nil
}

// checkINI loads every connector section of an INI block.
func checkINI(t *testing.T, b block) {
	path := filepath.Join(t.TempDir(), "keys.ini")
	if err := os.WriteFile(path, []byte(b.code), 0o600); err != nil {
		t.Fatal(err)
	}
	var sections int
	for _, m := range regexp.MustCompile(`(?m)^\[([^\]:]+)\]`).FindAllStringSubmatch(b.code, -1) {
		sections++
		if _, err := jongler.LoadConfig(path, m[1]); err != nil {
			t.Errorf("%s: section [%s] does not load: %v", b, m[1], err)
		}
	}
	if sections == 0 {
		t.Errorf("%s: an INI block with no connector section: give the keys' section too, so that it loads", b)
	}
}

// checkConnector decodes a JSON block as a connector file.
func checkConnector(t *testing.T, b block) {
	var c struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(b.code), &c); err != nil || c.Name == "" {
		t.Errorf("%s: a JSON block must be a connector file with a name: %v", b, err)
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "connector.json"), []byte(b.code), 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := jongler.Connectors(dir)
	if err != nil {
		t.Errorf("%s: %v", b, err)
		return
	}
	if _, ok := all[c.Name]; !ok {
		t.Errorf("%s: connector %q not loaded", b, c.Name)
	}
}

// checkSyntax has interpreter parse each block.
func checkSyntax(t *testing.T, bs []block, interpreter, ext string, args func(path string) []string) {
	if len(bs) == 0 {
		return
	}
	bin, err := exec.LookPath(interpreter)
	if err != nil {
		for _, b := range bs {
			if testing.Short() {
				t.Logf("%s: not checked: %s is not installed (needed without -short)", b, interpreter)
			} else {
				t.Errorf("%s: cannot be checked: %s is not installed", b, interpreter)
			}
		}
		return
	}
	dir := t.TempDir()
	for i, b := range bs {
		path := filepath.Join(dir, fmt.Sprintf("block%d%s", i, ext))
		if err := os.WriteFile(path, []byte(b.code), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, args(path)...).CombinedOutput(); err != nil {
			t.Errorf("%s: %s does not parse it: %v\n%s", b, interpreter, err, out)
		}
	}
}

// A cli is the apijongler command, built from this tree, and what its
// --help says of its commands and flags.
type cli struct {
	bin      string
	env      []string // the environment the commands run in
	commands map[string]map[string]flagSpec
	ran      []string        // the commands run, for the log
	done     map[string]bool // the commands run, by environment, arguments and status
}

// A flagSpec says how a flag takes its value.
type flagSpec struct {
	value    bool // takes a value: --flag VALUE or --flag=VALUE
	optional bool // takes one only as --flag=VALUE
}

// newCLI builds apijongler, reads its help, and makes the world its safe
// commands run in: an INI file of three made-up keys for the Gemini
// connector, a state directory, and a connector file that points the Gemini
// connector at a jonglertest server knowing those keys.
func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	c := &cli{bin: filepath.Join(dir, "apijongler"), commands: map[string]map[string]flagSpec{}, done: map[string]bool{}}
	build := exec.Command("go", "build", "-o", c.bin, "./cmd/apijongler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/apijongler: %v\n%s", err, out)
	}
	keys := []jonglertest.Key{
		{Label: "key1", Value: "docs-test-key-0000000000000001"},
		{Label: "key2", Value: "docs-test-key-0000000000000002"},
		{Label: "key3", Value: "docs-test-key-0000000000000003"},
	}
	models := jonglertest.DefaultModels()
	for m := range models {
		models[m] = jonglertest.Quota{RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}
	}
	srv := jonglertest.NewServer(jonglertest.Config{Keys: keys, Models: models, StreamGap: -1})
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	ini := "[generativelanguage.googleapis.com]\n"
	for _, k := range keys {
		ini += k.Label + " = " + k.Value + "\n"
	}
	for name, content := range map[string]string{
		"keys.ini": ini,
		"connectors/generativelanguage.googleapis.com.json": fmt.Sprintf(`{"name": "generativelanguage.googleapis.com",
 "host": %q, "port": %s, "protocol": "http", "format": "json", "requires_api_key": true,
 "api_key_header": "x-goog-api-key", "api_key_query": "key", "policy": "gemini", "aliases": ["gemini"]}`, host, port),
	} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APIJONGLER_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") && !strings.HasPrefix(kv, "HOME=") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env,
		"HOME="+dir,
		"NO_COLOR=1",
		jongler.ConfigEnv+"="+filepath.Join(dir, "keys.ini"),
		jongler.StateDirEnv+"="+filepath.Join(dir, "state"),
		jongler.ConnectorsDirEnv+"="+filepath.Join(dir, "connectors"),
	)
	c.readHelp(t)
	return c
}

var (
	helpCommand = regexp.MustCompile(`^  (\w+)\s{2,}`)
	helpFlag    = regexp.MustCompile(`^\s+(?:-(\w), )?--([\w-]+)(?: (\S+))?`)
)

// readHelp reads the commands and their flags from apijongler's --help.
func (c *cli) readHelp(t *testing.T) {
	t.Helper()
	help := func(args ...string) string {
		out, err := exec.Command(c.bin, append(args, "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("apijongler %s --help: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	flags := func(text string) map[string]flagSpec {
		m := map[string]flagSpec{}
		section := false
		for _, l := range strings.Split(text, "\n") {
			switch {
			case strings.HasSuffix(l, "Flags:"):
				section = true
				continue
			case l == "" || !strings.HasPrefix(l, " "):
				section = false
			}
			f := helpFlag.FindStringSubmatch(l)
			if !section || f == nil {
				continue
			}
			spec := flagSpec{value: f[3] != "", optional: strings.Contains(f[3], "[=")}
			m["--"+f[2]] = spec
			if f[1] != "" {
				m["-"+f[1]] = spec
			}
		}
		return m
	}
	// subcommands returns the commands a help text lists.
	subcommands := func(text string) []string {
		var out []string
		inCommands := false
		for _, l := range strings.Split(text, "\n") {
			if l == "Available Commands:" {
				inCommands = true
				continue
			}
			if inCommands {
				m := helpCommand.FindStringSubmatch(l)
				if m == nil {
					break
				}
				out = append(out, m[1])
			}
		}
		return out
	}
	top := help()
	c.commands[""] = flags(top)
	for _, name := range subcommands(top) {
		text := help(name)
		c.commands[name] = flags(text)
		for _, sub := range subcommands(text) { // demo serve
			c.commands[name+" "+sub] = flags(help(name, sub))
		}
	}
	if len(c.commands) < 5 {
		t.Fatalf("apijongler --help lists %d commands; the help's format changed?\n%s", len(c.commands), top)
	}
}

// A command is one simple command of a shell line.
type command struct {
	env  map[string]string
	args []string
	subs []string // the texts of its $(...) substitutions
}

// checkShell checks every command of an sh or console block.
func checkShell(t *testing.T, c *cli, b block, console bool) {
	lines := strings.Split(strings.TrimRight(b.code, "\n"), "\n")
	type entry struct {
		line int
		text string
		exit int // -1: not said
	}
	var entries []entry
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if console {
			if i == 0 && !strings.HasPrefix(l, "$ ") {
				t.Errorf("%s: a console block starts with a command (\"$ ...\")", b)
				return
			}
			if m := regexp.MustCompile(`^\(exit (\d+)\)$`).FindStringSubmatch(l); m != nil && len(entries) > 0 {
				entries[len(entries)-1].exit, _ = strconv.Atoi(m[1])
				continue
			}
			if !strings.HasPrefix(l, "$ ") {
				continue // output
			}
			l = strings.TrimPrefix(l, "$ ")
		}
		start := i
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			next := lines[i]
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(strings.TrimPrefix(next, "> "))
		}
		if strings.TrimSpace(l) != "" {
			entries = append(entries, entry{b.line + start, l, -1})
		}
	}
	for _, e := range entries {
		where := fmt.Sprintf("%s:%d", b.file, e.line)
		cmds, err := splitShell(e.text)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, cmd := range cmds {
			checkCommand(t, c, where, cmd, e.exit, len(cmds) == 1)
		}
	}
}

// checkCommand checks one command; alone says it is the whole line, so
// that its exit status is the line's.
func checkCommand(t *testing.T, c *cli, where string, cmd command, exit int, alone bool) {
	for _, s := range cmd.subs {
		subs, err := splitShell(s)
		if err != nil {
			t.Errorf("%s: $(%s): %v", where, s, err)
		}
		for _, sc := range subs {
			checkCommand(t, c, where, sc, -1, false)
		}
	}
	for k, v := range cmd.env {
		checkEnv(t, where, k, v)
	}
	if len(cmd.args) == 0 {
		return
	}
	name, args := cmd.args[0], cmd.args[1:]
	switch name {
	case "apijongler":
		c.check(t, where, cmd.env, args, exit, alone)
	case "go":
		checkGoCommand(t, c, where, cmd.env, args, exit, alone)
	case "bash", "sh":
		if len(args) == 0 || !exists(args[0]) {
			t.Errorf("%s: %s %v: no such script in the repository", where, name, args)
		}
	case "curl":
		checkCurl(t, where, args)
	case "python3", ".venv/bin/python":
		// python3 -m venv DIR, or a script of the repository.
		if !(len(args) == 3 && args[0] == "-m" && args[1] == "venv" && name == "python3") &&
			(len(args) == 0 || !exists(args[0])) {
			t.Errorf("%s: %s %v: want -m venv DIR or a script of the repository", where, name, args)
		}
	case ".venv/bin/pip":
		if len(args) != 4 || args[0] != "install" || args[1] != "--require-hashes" || args[2] != "-r" || !exists(args[3]) {
			t.Errorf("%s: pip %v: only pip install --require-hashes -r FILE of the repository is known here", where, args)
		}
	case "export":
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				t.Errorf("%s: export %s: want NAME=VALUE", where, a)
				continue
			}
			checkEnv(t, where, k, v)
		}
	case "openssl":
		if len(args) != 3 || args[0] != "rand" || (args[1] != "-hex" && args[1] != "-base64") {
			t.Errorf("%s: openssl %v: only openssl rand -hex|-base64 N is known here", where, args)
		} else if n, err := strconv.Atoi(args[2]); err != nil || n < 16 {
			t.Errorf("%s: openssl rand %s %s: a token is at least 16 bytes", where, args[1], args[2])
		}
	case "cd":
		if len(args) != 1 || !exists(args[0]) {
			t.Errorf("%s: cd %v: no such directory in the repository", where, args)
		}
	case "npm":
		if !slices.Equal(args, []string{"ci"}) {
			t.Errorf("%s: npm %v: only npm ci is known here", where, args)
		}
	case "docker":
		// The image of cmd/internal/imagebuild: loaded from its tar, run
		// with a token file (serve listens beyond loopback in it).
		line := strings.Join(args, " ")
		switch {
		case len(args) > 0 && args[0] == "load":
			if !strings.HasSuffix(line, ".oci.tar") {
				t.Errorf("%s: docker %s: load the OCI tar imagebuild writes", where, line)
			}
		case len(args) > 0 && args[0] == "run":
			if !strings.Contains(line, " apijongler:") || !strings.Contains(line, "--token-file ") || !strings.Contains(line, ":/var/lib/apijongler") {
				t.Errorf("%s: docker %s: want the apijongler image, its state volume and --token-file", where, line)
			}
		default:
			t.Errorf("%s: docker %s: only docker load and docker run are known here", where, line)
		}
	case "tee", "grep", "sed", "jq", "wc", "nproc", "uname", "cat", "gofmt", "umask":
		// Plain tools taking a command's output: nothing of the project in them.
	default:
		t.Errorf("%s: %s: a command this test does not know how to check (see docs_test.go)", where, name)
	}
}

// checkEnv checks an environment variable set in a command.
func checkEnv(t *testing.T, where, name, value string) {
	if suffix, ok := strings.CutPrefix(name, "APIJONGLER_KEYS_"); ok {
		// Keys for a connector, named by its name or alias upper-cased.
		if !inSources(`"APIJONGLER_KEYS_`) || !connectorEnvNames()[suffix] {
			t.Errorf("%s: %s: no connector is called so", where, name)
		}
	} else if strings.HasPrefix(name, "APIJONGLER_") && !inSources(`"`+name+`"`) {
		t.Errorf("%s: %s: no such variable in the code", where, name)
	}
	if name == "APIJONGLER_TOKENS" {
		for _, tok := range strings.Split(value, ",") {
			checkToken(t, where, tok)
		}
	}
}

// connectorEnvNames returns the bundled connectors' names and aliases as
// they end an APIJONGLER_KEYS_ variable: upper-cased, every character but
// letters and digits as '_'.
func connectorEnvNames() map[string]bool {
	all, err := jongler.Connectors("")
	if err != nil {
		panic(err)
	}
	names := map[string]bool{}
	for _, c := range all {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			names[strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
					return r
				}
				return '_'
			}, strings.ToUpper(n))] = true
		}
	}
	return names
}

// checkToken requires a proxy token of at least 16 bytes, or one taken from
// elsewhere ($VAR, $(...)).
func checkToken(t *testing.T, where, tok string) {
	if !strings.HasPrefix(tok, "$") && len(tok) < 16 {
		t.Errorf("%s: token %q: use a token of at least 16 bytes (openssl rand -hex 16)", where, tok)
	}
}

// check checks an apijongler command line and runs it if it is safe.
func (c *cli) check(t *testing.T, where string, env map[string]string, args []string, exit int, alone bool) {
	union := map[string]flagSpec{}
	for _, fl := range c.commands {
		for n, spec := range fl {
			union[n] = spec
		}
	}
	// The command is the first argument that is not a flag or a flag's value.
	var (
		sub         string
		positionals []string
		flagArgs    [][2]string // name, value
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if _, ok := c.commands[a]; ok && sub == "" && len(positionals) == 0 {
				sub = a
			} else if _, ok := c.commands[sub+" "+a]; ok && sub != "" && len(positionals) == 0 {
				sub += " " + a
			} else {
				positionals = append(positionals, a)
			}
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		if spec := union[name]; spec.value && !spec.optional && !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		flagArgs = append(flagArgs, [2]string{name, value})
	}
	flags := c.commands[sub]
	flagsSeen := map[string]string{}
	for _, f := range flagArgs {
		name, value := f[0], f[1]
		if _, ok := flags[name]; !ok {
			if exit < 0 {
				t.Errorf("%s: apijongler %s: unknown flag %s", where, sub, name)
			}
			continue
		}
		flagsSeen[name] = value
		if name == "--token" {
			checkToken(t, where, value)
		}
	}
	_, help := flagsSeen["--help"]
	_, shortHelp := flagsSeen["-h"]
	_, version := flagsSeen["--version"]
	help = help || shortHelp || version || sub == "help"
	runnable := alone
	for _, f := range []string{"--tor", "--base-url", "--store", "--config", "--cleanup", "--cleanup-all"} {
		if _, ok := flagsSeen[f]; ok {
			runnable = false
		}
	}
	switch {
	case help:
	case exit == 2:
		// A usage error, shown on purpose: run it to see it is one.
		runnable = runnable && sub != "serve"
	case sub == "" && (flagsSeen["--cleanup"] != "" || hasFlag(flagsSeen, "--cleanup-all")):
		// The original's flags, aliases of cleanup.
		if c := flagsSeen["--cleanup"]; c != "" {
			if _, err := jongler.LookupConnector(c, ""); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		if len(positionals) > 0 {
			t.Errorf("%s: --cleanup takes no arguments, got %q", where, positionals)
		}
	case sub == "":
		if len(positionals) != 3 && len(positionals) != 4 {
			t.Errorf("%s: apijongler CONNECTOR METHOD ENDPOINT [BODY]: got %q", where, positionals)
			return
		}
		conn, err := jongler.LookupConnector(positionals[0], "")
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if positionals[1] != strings.ToUpper(positionals[1]) || !strings.HasPrefix(positionals[2], "/") {
			t.Errorf("%s: want METHOD ENDPOINT, got %q %q", where, positionals[1], positionals[2])
		}
		if len(positionals) == 4 {
			body := positionals[3]
			switch {
			case strings.HasPrefix(body, "@") || body == "-":
				runnable = false
			case !json.Valid([]byte(body)):
				t.Errorf("%s: BODY is not valid JSON: %s", where, body)
			}
		}
		if conn.Name != jongler.ConnectorGemini {
			runnable = false // only the Gemini connector has a stand-in here
		}
	case sub == "status" || sub == "cleanup" || sub == "serve":
		for _, p := range positionals {
			if _, err := jongler.LookupConnector(p, ""); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		if sub == "serve" {
			runnable = false // it runs until stopped; TestREADMECurl runs one
		}
	case sub == "token new":
		// token new NAME: prints a new token, safe to run.
		if len(positionals) != 1 {
			t.Errorf("%s: apijongler token new NAME: got %q", where, positionals)
		}
	case sub == "key":
		if len(positionals) != 3 || !slices.Contains([]string{"reset", "disable", "enable"}, positionals[0]) {
			t.Errorf("%s: apijongler key reset|disable|enable CONNECTOR KEY: got %q", where, positionals)
		} else if _, err := jongler.LookupConnector(positionals[1], ""); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		runnable = false // it needs the key of a configuration: key.txtar runs it
	case sub == "demo serve":
		runnable = false // it runs until stopped; TestDemoServe runs one
	case len(positionals) > 0:
		t.Errorf("%s: apijongler %s takes no arguments, got %q", where, sub, positionals)
	}
	if runnable {
		c.run(t, where, env, args, exit)
	}
}

// hasFlag says whether flags holds name.
func hasFlag(flags map[string]string, name string) bool {
	_, ok := flags[name]
	return ok
}

// run runs a safe apijongler command and checks its exit status: 0, or
// the one the document says.
func (c *cli) run(t *testing.T, where string, env map[string]string, args []string, exit int) {
	id := fmt.Sprint(env, args, exit)
	if c.done[id] {
		return // the same command, already run (the demo, say)
	}
	c.done[id] = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = slices.Clone(c.env)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	c.ran = append(c.ran, where)
	got := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Errorf("%s: apijongler %s: %v", where, strings.Join(args, " "), err)
			return
		}
		got = ee.ExitCode()
	}
	want := max(exit, 0)
	if got != want {
		t.Errorf("%s: apijongler %s: exit %d, the document says %d\n%s", where, strings.Join(args, " "), got, want, out)
	}
}

// goFlagsWithValue are the go command's flags that take a value as the next
// argument.
var goFlagsWithValue = map[string]bool{
	"-run": true, "-bench": true, "-fuzz": true, "-count": true, "-benchtime": true, "-fuzztime": true,
	"-timeout": true, "-o": true, "-ldflags": true, "-tags": true, "-cpu": true, "-cpuprofile": true,
	"-memprofile": true, "-coverprofile": true, "-soak": true, "-http": true, "-C": true,
}

// checkGoCommand checks a go command: its packages exist; go run
// ./cmd/apijongler is checked as apijongler.
func checkGoCommand(t *testing.T, c *cli, where string, env map[string]string, args []string, exit int, alone bool) {
	if len(args) == 0 {
		t.Errorf("%s: go with no command", where)
		return
	}
	verb, args := args[0], args[1:]
	var pkgs, rest, selectors []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case len(pkgs) > 0 && verb == "run":
			rest = append(rest, a)
		case strings.HasPrefix(a, "-"):
			name, value, has := strings.Cut(a, "=")
			if goFlagsWithValue[name] && !has && i+1 < len(args) {
				i++
				value = args[i]
			}
			if name == "-run" || name == "-bench" || name == "-fuzz" {
				selectors = append(selectors, value)
			}
		default:
			pkgs = append(pkgs, a)
		}
	}
	switch verb {
	case "run":
		if len(pkgs) == 0 {
			t.Errorf("%s: go run of nothing", where)
			return
		}
		switch pkg := pkgs[0]; {
		case pkg == "./cmd/apijongler":
			c.check(t, where, env, rest, exit, alone)
		case strings.HasPrefix(pkg, "golang.org/x/perf/cmd/benchstat@"):
		case strings.HasPrefix(pkg, "./cmd/"):
			checkPackage(t, where, pkg)
			checkToolArgs(t, where, pkg, rest)
		default:
			t.Errorf("%s: go run %s: not a command of this repository", where, pkg)
		}
	case "test", "vet", "build", "install", "get", "doc":
		for _, p := range pkgs {
			if verb == "doc" && !strings.ContainsAny(p, "/.") {
				continue // a name in the package
			}
			checkPackage(t, where, p)
		}
		if verb == "test" {
			checkSelectors(t, where, pkgs, selectors)
		}
	case "mod", "version", "env":
	default:
		t.Errorf("%s: go %s: a go command this test does not know", where, verb)
	}
}

// selectorName is a test, benchmark, fuzz target or example a -run, -bench
// or -fuzz pattern names.
var selectorName = regexp.MustCompile(`(?:Test|Benchmark|Fuzz|Example)[A-Za-z0-9_]*`)

// checkSelectors checks that each test a go test line selects by name is
// defined in one of the packages it tests, so that moving a test leaves no
// command that runs nothing.
func checkSelectors(t *testing.T, where string, pkgs, selectors []string) {
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	var src strings.Builder
	for _, p := range pkgs {
		if strings.Contains(p, "...") {
			return // a tree of packages: too wide to say
		}
		files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(p), "*_test.go"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			src.Write(data)
		}
	}
	for _, sel := range selectors {
		for _, name := range selectorName.FindAllString(sel, -1) {
			if !regexp.MustCompile(`func ` + name + `[A-Za-z0-9_]*\(`).MatchString(src.String()) {
				t.Errorf("%s: go test selects %s, which none of %v defines", where, name, pkgs)
			}
		}
	}
}

// checkPackage checks that a package pattern names a directory of this
// module with Go files.
func checkPackage(t *testing.T, where, pkg string) {
	const module = "github.com/api-jongler/jongler"
	pkg, _, _ = strings.Cut(pkg, "@")
	switch {
	case pkg == module:
		pkg = "."
	case strings.HasPrefix(pkg, module+"/"):
		pkg = "./" + strings.TrimPrefix(pkg, module+"/")
	}
	pkg = strings.TrimSuffix(strings.TrimSuffix(pkg, "..."), "/")
	if pkg == "" || pkg == "." {
		return
	}
	if !strings.HasPrefix(pkg, "./") {
		t.Errorf("%s: %s: not a package of this module", where, pkg)
		return
	}
	files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
	if len(files) == 0 {
		t.Errorf("%s: %s: no Go package there", where, pkg)
	}
}

// checkToolArgs checks a command of cmd/ run with go run: its subcommand
// (a first argument that is not a flag) and flags must be named in its
// sources.
func checkToolArgs(t *testing.T, where, pkg string, args []string) {
	files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
	var src strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			data, _ := os.ReadFile(f)
			src.Write(data)
		}
	}
	for i, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "-"):
			if !strings.Contains(src.String(), `"`+name+`"`) {
				t.Errorf("%s: %s: no flag -%s", where, pkg, name)
			}
		case i == 0:
			if !strings.Contains(src.String(), `"`+a+`"`) {
				t.Errorf("%s: %s: no subcommand %s", where, pkg, a)
			}
		}
	}
}

// checkCurl checks a curl line: it addresses serve's documented address,
// on a route serve has.
func checkCurl(t *testing.T, where string, args []string) {
	const addr = "http://127.0.0.1:8787"
	var target string
	for i, a := range args {
		if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
			target = a
		}
		if strings.HasPrefix(a, "-H") && i+1 < len(args) {
			if v, ok := strings.CutPrefix(args[i+1], "Authorization: Bearer "); ok {
				checkToken(t, where, v)
			}
		}
	}
	rest, ok := strings.CutPrefix(target, addr+"/")
	if !ok {
		t.Errorf("%s: curl %s: the examples address apijongler serve at %s", where, target, addr)
		return
	}
	first, _, _ := strings.Cut(rest, "/")
	first, _, _ = strings.Cut(first, "?")
	switch first {
	case "healthz", "readyz", "status", "metrics", "admin", "ui", "v1beta", "v1":
		return
	}
	if _, err := jongler.LookupConnector(first, ""); err != nil {
		t.Errorf("%s: curl %s: serve has no route /%s/", where, target, first)
	}
}

// splitShell splits a shell line into its simple commands (at |, &&, ||,
// ; and &), each into its words, with quotes removed; redirections are
// dropped, leading NAME=VALUE words are the command's environment.
func splitShell(line string) ([]command, error) {
	var (
		cmds []command
		cur  = command{env: map[string]string{}}
		word strings.Builder
		in   bool // a word is being read
	)
	endWord := func() {
		if !in {
			return
		}
		w := word.String()
		word.Reset()
		in = false
		if k, v, ok := strings.Cut(w, "="); ok && len(cur.args) == 0 && regexp.MustCompile(`^[A-Za-z_]\w*$`).MatchString(k) {
			cur.env[k] = v
			return
		}
		cur.args = append(cur.args, w)
	}
	endCmd := func() {
		endWord()
		if len(cur.args) > 0 || len(cur.env) > 0 {
			cmds = append(cmds, cur)
		}
		cur = command{env: map[string]string{}}
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %s", line)
			}
			word.WriteString(line[i+1 : i+1+j])
			in = true
			i += j + 1
		case ch == '"':
			in = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				word.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unclosed \" in %s", line)
			}
		case ch == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			in = true
		case ch == '$' && i+1 < len(line) && line[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(line); j++ {
				if line[j] == '(' {
					depth++
				} else if line[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unclosed $( in %s", line)
			}
			cur.subs = append(cur.subs, line[i+2:j])
			word.WriteString(line[i : j+1])
			in = true
			i = j
		case ch == '#' && !in:
			i = len(line)
		case ch == ' ' || ch == '\t':
			endWord()
		case ch == '|' || ch == ';' || ch == '&':
			endCmd()
			if i+1 < len(line) && (line[i+1] == ch) {
				i++
			}
		case ch == '>' || ch == '<':
			endWord()
			// The redirection's target is the next word; drop it.
			j := i + 1
			for j < len(line) && (line[j] == '>' || line[j] == '&') {
				j++
			}
			for j < len(line) && line[j] == ' ' {
				j++
			}
			for j < len(line) && line[j] != ' ' {
				j++
			}
			i = j - 1
		default:
			if !in && ch >= '0' && ch <= '9' && i+1 < len(line) && line[i+1] == '>' {
				continue // 2>&1: the descriptor of a redirection
			}
			word.WriteByte(ch)
			in = true
		}
	}
	endCmd()
	return cmds, nil
}

// exists says whether path, relative to the repository's root, exists.
func exists(path string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(path)))
	return err == nil
}

var (
	sourcesOnce sync.Once
	sources     []byte // every Go file of the repository, one after the other
)

// inSources says whether s occurs in some Go file of the repository.
func inSources(s string) bool {
	sourcesOnce.Do(func() {
		var buf bytes.Buffer
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != root) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") {
				data, err := os.ReadFile(path)
				if err == nil {
					buf.Write(data)
					buf.WriteByte('\n')
				}
			}
			return nil
		})
		sources = buf.Bytes()
	})
	return bytes.Contains(sources, []byte(s))
}

// TestNamedTestsExist: every Test, Fuzz, Benchmark and Example function
// the documents name is defined in the repository, so that a rename
// cannot leave the docs pointing at nothing.
func TestNamedTestsExist(t *testing.T) {
	name := regexp.MustCompile(`\b(?:Test|Fuzz|Benchmark|Example)[A-Z_][A-Za-z0-9_]*`)
	for _, f := range documents(t) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, n := range name.FindAllString(string(data), -1) {
			if seen[n] {
				continue
			}
			seen[n] = true
			if !inSources("func " + n + "(") {
				t.Errorf("%s names %s, which no Go file of the repository defines", f, n)
			}
		}
	}
}

// TestLinks: every relative link of the documents reaches a file or
// directory of the repository, and a link to a heading of a Markdown file
// reaches a heading there.
func TestLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range documents(t) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(prose(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := f
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(f), path))
				if !exists(file) {
					t.Errorf("%s: link %s: no such file", f, target)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !slices.Contains(headings(t, file), anchor) {
				t.Errorf("%s: link %s: %s has no such heading", f, target, file)
			}
		}
	}
}

// prose returns a Markdown text without its code blocks.
func prose(data []byte) string {
	var out strings.Builder
	inCode := false
	for _, l := range strings.Split(string(data), "\n") {
		if fence.MatchString(l) {
			inCode = !inCode
			continue
		}
		if !inCode {
			out.WriteString(l + "\n")
		}
	}
	return out.String()
}

// headings returns the anchors GitHub gives the headings of a Markdown file.
func headings(t *testing.T, file string) []string {
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(prose(data), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		text := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var slug strings.Builder
		for _, r := range text {
			switch {
			case r == ' ':
				slug.WriteByte('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				slug.WriteRune(r)
			}
		}
		out = append(out, slug.String())
	}
	return out
}

// TestLengths holds the landing page and the figures to what a reader can
// take in: the manual is docs/, history is git's.
func TestLengths(t *testing.T) {
	for f, most := range map[string]int{"README.md": 250, "BENCHMARKS.md": 340} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(data), "\n"); n > most {
			t.Errorf("%s has %d lines; at most %d: move the detail to docs/", f, n, most)
		}
	}
}

// TestNoWorkLog: the documents hold no issue numbers and no weak example
// tokens.
func TestNoWorkLog(t *testing.T) {
	issue := regexp.MustCompile(`(?i)\bissues? #?\d+|\(#\d+\)`)
	for _, f := range documents(t) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if m := issue.Find(data); m != nil {
			t.Errorf("%s: %q: the documents name no issue; history lives in git", f, m)
		}
		if bytes.Contains(data, []byte("s3cret")) {
			t.Errorf("%s: the token \"s3cret\": use one of at least 16 bytes (openssl rand -hex 16)", f)
		}
	}
}

// pictureName is a file or package a picture names: a Go file (a glob
// such as store*.go too) or an internal package.
var pictureName = regexp.MustCompile(`(?:internal/)?[a-z_*]+\.go\b|internal/[a-z]+`)

// checkPicture checks a text block, a picture: every Go file and internal
// package it names exists, so that moving code cannot leave it pointing
// nowhere. A picture that names nothing is not checked by anything, and
// fails.
func checkPicture(t *testing.T, b block) {
	t.Helper()
	names := pictureName.FindAllString(b.code, -1)
	if len(names) == 0 {
		t.Errorf("%s: a text block that names no file or package: this test cannot check it", b)
	}
	for _, n := range names {
		if m, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(n))); len(m) == 0 {
			t.Errorf("%s: the picture names %s, which does not exist", b, n)
		}
	}
}
