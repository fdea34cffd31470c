package jongler_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// readHTTPFixture reads one answer of testdata/providers.
func readHTTPFixture(t *testing.T, path string) (int, http.Header, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestProviderFixtures classifies every answer of testdata/providers with
// the policy of the provider's bundled connector, as docs/providers.md says.
func TestProviderFixtures(t *testing.T) {
	now := time.Date(2026, 3, 10, 21, 20, 30, 0, time.UTC)
	const model = "some-model"
	midnightUTC := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	type want struct {
		action  jongler.Action
		until   time.Time // zero: none
		wait    time.Duration
		model   string
		project bool
	}
	accept := want{action: jongler.ActionAccept}
	retry := want{action: jongler.ActionRetry}
	dead := want{action: jongler.ActionDisable}
	deadModel := want{action: jongler.ActionDisable, model: model}
	spent := func(d time.Duration) want {
		return want{action: jongler.ActionAccept, until: now.Add(d), model: model, project: true}
	}
	rest := func(until time.Time, m string) want {
		return want{action: jongler.ActionLockdown, until: until, model: m, project: true}
	}
	tests := map[string]want{
		"openai/200-ratelimit-headers":   accept,
		"openai/200-requests-spent":      spent(90*time.Second + 500*time.Millisecond),
		"openai/200-tokens-spent-12ms":   spent(12 * time.Millisecond),
		"openai/429-rate-limit-requests": rest(now.Add(20*time.Second), model),
		"openai/429-insufficient-quota":  dead,
		"openai/401-invalid-api-key":     dead,
		"openai/403-unsupported-region":  accept,
		"openai/400-invalid-request":     accept,
		"openai/500-server-error":        retry,
		"openai/503-overloaded":          retry,

		"anthropic/200-ratelimit-headers":      accept,
		"anthropic/200-input-tokens-spent":     spent(22*time.Second + 500*time.Millisecond),
		"anthropic/429-rate-limit-error":       rest(now.Add(30*time.Second), model),
		"anthropic/529-overloaded-error":       retry,
		"anthropic/401-authentication-error":   dead,
		"anthropic/403-permission-error":       deadModel,
		"anthropic/400-credit-balance-too-low": dead,
		"anthropic/400-invalid-request-error":  accept,
		"anthropic/413-request-too-large":      accept,
		"anthropic/500-api-error":              retry,

		"groq/200-ratelimit-headers":           accept,
		"groq/200-daily-requests-spent":        spent(2*time.Minute + 59560*time.Millisecond),
		"groq/429-tokens-per-minute":           rest(now.Add(8*time.Second), model),
		"groq/429-requests-per-day-no-headers": rest(now.Add(86400*time.Millisecond), model),
		"groq/401-invalid-api-key":             dead,
		"groq/404-model-not-found":             accept,
		"groq/498-flex-capacity-exceeded":      retry,
		"groq/503-service-unavailable":         retry,

		"openrouter/200-ratelimit-headers":            accept,
		"openrouter/429-free-models-per-day":          rest(midnightUTC, ""),
		"openrouter/429-free-models-per-day-no-reset": rest(midnightUTC, ""),
		"openrouter/429-free-models-per-min":          rest(time.Date(2026, 3, 10, 21, 21, 0, 0, time.UTC), ""),
		"openrouter/429-upstream-provider":            retry,
		"openrouter/402-insufficient-credits":         dead,
		"openrouter/401-invalid-credentials":          dead,
		"openrouter/403-moderation-flagged":           accept,
		"openrouter/408-timeout":                      retry,
		"openrouter/502-model-down":                   retry,

		"mistral/200-no-ratelimit-headers":     accept,
		"mistral/429-rate-limited":             rest(now.Add(jongler.DefaultCooldown), model),
		"mistral/429-rate-limited-retry-after": rest(now.Add(3*time.Second), model),
		"mistral/401-unauthorized":             dead,
		"mistral/422-invalid-request":          accept,
		"mistral/503-unavailable":              retry,

		"cerebras/200-ratelimit-headers":   accept,
		"cerebras/200-tokens-minute-spent": spent(11382867097 * time.Nanosecond),
		"cerebras/429-requests-per-day":    rest(now.Add(33011382867097*time.Nanosecond), model),
		"cerebras/401-wrong-api-key":       dead,
		"cerebras/402-payment-required":    dead,
		"cerebras/404-model-not-found":     accept,
		"cerebras/500-internal":            retry,
	}
	connectors := map[string]string{
		"openai": "api.openai.com", "anthropic": "api.anthropic.com", "groq": "api.groq.com",
		"openrouter": "openrouter.ai", "mistral": "api.mistral.ai", "cerebras": "api.cerebras.ai",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "providers", "*", "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.ToSlash(strings.TrimPrefix(path, filepath.Join("testdata", "providers")+string(filepath.Separator))), ".http")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			w, ok := tests[name]
			if !ok {
				t.Fatalf("no expectation for fixture %s", path)
			}
			c, err := jongler.LookupConnector(connectors[strings.Split(name, "/")[0]], "")
			if err != nil {
				t.Fatal(err)
			}
			status, header, body := readHTTPFixture(t, path)
			a := &jongler.Answer{Status: status, Header: header, Model: model, Now: now}
			if status >= 400 {
				a.Body = body
			}
			v := jongler.PolicyFor(c).Classify(a)
			if v.Action != w.action {
				t.Fatalf("action %v, want %v (verdict %+v)", v.Action, w.action, v)
			}
			// Float seconds (Cerebras) may round a nanosecond either way.
			if d := v.Until.Sub(w.until); d < -time.Microsecond || d > time.Microsecond || v.Until.IsZero() != w.until.IsZero() {
				t.Fatalf("until %v, want %v", v.Until, w.until)
			}
			if v.Wait != w.wait || v.Model != w.model || v.Project != w.project {
				t.Fatalf("verdict %+v, want wait %v model %q project %v", v, w.wait, w.model, w.project)
			}
			if (v.Action != jongler.ActionAccept || !v.Until.IsZero()) && v.Reason == "" {
				t.Fatal("no reason given")
			}
		})
	}
	for name := range tests {
		if !seen[name] {
			t.Errorf("expectation for %s, which has no fixture", name)
		}
	}
}

// TestProviderAliases: each new provider is bundled under its canonical
// name with its short alias, and gets its own policy, not StatusPolicy.
func TestProviderAliases(t *testing.T) {
	for alias, name := range map[string]string{
		"openai": jongler.ConnectorOpenAI, "anthropic": jongler.ConnectorAnthropic, "groq": jongler.ConnectorGroq,
		"openrouter": jongler.ConnectorOpenRouter, "mistral": jongler.ConnectorMistral, "cerebras": jongler.ConnectorCerebras,
	} {
		c, err := jongler.LookupConnector(alias, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != name || c.Host != name || c.Policy != alias || !c.RequiresAPIKey {
			t.Fatalf("%s: %+v", alias, c)
		}
		if _, status := jongler.PolicyFor(c).(jongler.StatusPolicy); status {
			t.Fatalf("%s: StatusPolicy, want the provider's", alias)
		}
	}
}

// TestAnthropicKeyHeader: the key goes in x-api-key where the SDK put its
// placeholder, anthropic-version goes as the client set it, and a 529
// overloaded is retried, no key held back for it (the next send takes the
// least recently used key, its state unchanged).
func TestAnthropicKeyHeader(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(529)
			w.Write([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
			return
		}
		w.Write([]byte(`{"id":"msg_1","type":"message","content":[]}`))
	}))
	defer u.Close()
	clock := &fakeClock{now: time.Date(2026, 3, 10, 21, 20, 30, 0, time.UTC)}
	tr, err := jongler.NewTransport("anthropic",
		jongler.WithKeys(jongler.Key{Name: "a", Value: "sk-ant-test-aaaa"}, jongler.Key{Name: "b", Value: "sk-ant-test-bbbb"}),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(u.URL), jongler.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, u.URL+"/v1/messages", strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[]}`))
	req.Header.Set("x-api-key", "placeholder")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 200 || len(seen) != 2 {
		t.Fatalf("status %d after %d sends, want 200 after the 529 was retried", resp.StatusCode, len(seen))
	}
	for i, h := range seen {
		if h.Get("anthropic-version") != "2023-06-01" || h.Get("Authorization") != "" || !strings.HasPrefix(h.Get("x-api-key"), "sk-ant-test-") {
			t.Fatalf("send %d headers %v", i, h)
		}
	}
	if ks, _ := tr.KeyStates(context.Background()); len(ks.Vacant) != 2 {
		t.Fatalf("states %+v: overloaded is the upstream's state, not a key's", ks)
	}
}
