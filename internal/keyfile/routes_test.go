package keyfile

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// resolveTest knows gemini (alias of a long name), groq, and httpbin.org,
// which is not routable.
func resolveTest(c string) (string, error) {
	switch c {
	case "gemini", "generativelanguage.googleapis.com":
		return "generativelanguage.googleapis.com", nil
	case "groq":
		return "api.groq.com", nil
	case "httpbin.org":
		return "", errors.New(`connector "httpbin.org" has no "openai_path": it cannot be a route's target`)
	}
	return "", errors.New("unknown connector " + `"` + c + `"`)
}

func TestRoutes(t *testing.T) {
	f, err := Parse("keys.ini", []byte("[gemini]\nk = AIza-secret-value-0001\n[routes]\n"+
		"fast = gemini/gemini-2.5-flash, groq/meta-llama/llama-4-scout\n"+
		"cheap = groq/llama-3.1-8b-instant\n"+
		"fast.max_wait = 15s\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Routes(resolveTest)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Name: "fast", Line: 4, MaxWait: 15 * time.Second, Targets: []RouteTarget{
			{"generativelanguage.googleapis.com", "gemini-2.5-flash"}, {"api.groq.com", "meta-llama/llama-4-scout"}}},
		{Name: "cheap", Line: 5, Targets: []RouteTarget{{"api.groq.com", "llama-3.1-8b-instant"}}},
	}
	if len(got) != len(want) {
		t.Fatalf("routes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Line != want[i].Line || got[i].MaxWait != want[i].MaxWait || !slices.Equal(got[i].Targets, want[i].Targets) {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if slices.Contains(f.Secrets(), "gemini/gemini-2.5-flash, groq/meta-llama/llama-4-scout") {
		t.Error("a route's targets are taken for a secret: logs would hide them")
	}
	if slices.Contains(f.Connectors(), RoutesSection) {
		// The section is skipped by the callers that look for keys, as
		// [serve] is; it is listed, being a section.
		t.Log("routes listed among sections, as [serve] is")
	}
	none, err := (&File{Path: "x"}).Routes(resolveTest)
	if none != nil || err != nil {
		t.Errorf("no section: %v, %v", none, err)
	}
}

func TestRoutesErrors(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"fast = gemini", `keys.ini:2: [routes] route "fast", target 1 ("gemini"): want CONNECTOR/MODEL`},
		{"fast = gemini/", `target 1 ("gemini/"): want CONNECTOR/MODEL`},
		{"fast = nope/m1", `keys.ini:2: [routes] route "fast", target "nope/m1": unknown connector "nope"`},
		{"fast = httpbin.org/m1", `route "fast", target "httpbin.org/m1": connector "httpbin.org" has no "openai_path"`},
		{"fast = ", `route "fast" has no targets`},
		{"fast = , ,", `route "fast" has no targets`},
		{"fast = groq/a, groq/a", `route "fast", target "groq/a" is given twice`},
		{"fast = groq/a\nFAST = groq/b", `"fast" is given 2 times`}, // names regardless of case
		{"fast = groq/a\nfast = groq/b", `"fast" is given 2 times`},
		{"a/b = groq/a", `"a/b" is not a route name`},
		{"fast = groq/a\nfast.max_wait = soon", `keys.ini:3: [routes] route "fast": max_wait: want a duration`},
		{"fast = groq/a\nslow.max_wait = 1s", `"slow.max_wait": no route "slow"`},
		{"fast = AIzaSyA-a-long-key-value-pasted-here", "a long text (not shown: it may be a key)"},
	} {
		f, err := Parse("keys.ini", []byte("[routes]\n"+c.body+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Routes(resolveTest)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line with %q", c.body, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AIzaSyA") {
			t.Errorf("%q: error shows the value: %v", c.body, err)
		}
	}
}
