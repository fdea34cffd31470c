package jongler_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestBundledOpenAIPaths: every bundled connector of an LLM provider
// names the path of its OpenAI-compatible API; the others none.
func TestBundledOpenAIPaths(t *testing.T) {
	all, err := jongler.Connectors("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		jongler.ConnectorGemini:               "/v1beta/openai",
		jongler.ConnectorGroq:                 "/openai/v1",
		jongler.ConnectorCerebras:             "/v1",
		jongler.ConnectorOpenRouter:           "/api/v1",
		jongler.ConnectorMistral:              "/v1",
		jongler.ConnectorHuggingFace:          "/v1",
		jongler.ConnectorOpenAI:               "/v1",
		jongler.ConnectorAnthropic:            "/v1",
		jongler.ConnectorHTTPBin:              "",
		jongler.ConnectorHuggingFaceInference: "",
	}
	for name, c := range all {
		if got, ok := want[name]; !ok || c.OpenAIPath != got {
			t.Errorf("%s: openai_path %q, want %q", name, c.OpenAIPath, got)
		}
	}
}

// TestOpenAIPathChecked: an "openai_path" that is no plain path is
// refused with one line naming the file and the field.
func TestOpenAIPathChecked(t *testing.T) {
	for _, p := range []string{"v1", "/v1/", "/v1?x=1", "/v1/../admin", "/a//b", "/v 1", "/v1#f", "/%2e%2e"} {
		dir := t.TempDir()
		body := `{"name":"local","host":"127.0.0.1","protocol":"http","requires_api_key":true,"openai_path":` + quote(p) + `}`
		if err := os.WriteFile(filepath.Join(dir, "local.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := jongler.Connectors(dir)
		if err == nil || !strings.Contains(err.Error(), `field "openai_path"`) || !strings.Contains(err.Error(), "local.json") || strings.Contains(err.Error(), "\n") {
			t.Errorf("openai_path %q: error %v", p, err)
		}
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
