package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestPolicyFixtures classifies every upstream answer in testdata/fixtures
// (copied from shared/fixtures) as its README says.
func TestPolicyFixtures(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	now := time.Date(2026, 3, 10, 14, 20, 30, 0, la)
	nextMidnightLA := time.Date(2026, 3, 11, 0, 0, 0, 0, la)
	gemini, hf := jongler.GeminiPolicy{}, jongler.HuggingFacePolicy{}
	tests := []struct {
		file      string
		status    int
		policy    jongler.Policy
		action    jongler.Action
		until     time.Time
		wait      time.Duration
		model     string
		project   bool
		reasonHas string
	}{
		{"gemini/429-per-minute-tokens-free.json", 429, gemini, jongler.ActionLockdown, now.Add(26 * time.Second), 0, "gemini-2.5-flash", true, "minute"},
		{"gemini/429-per-day-requests-free.json", 429, gemini, jongler.ActionLockdown, nextMidnightLA, 0, "gemini-2.0-pro-exp", true, "day"},
		{"gemini/429-per-minute-requests-message-only.json", 429, gemini, jongler.ActionLockdown, now.Add(39006833842 * time.Nanosecond), 0, "gemini-2.5-flash", true, ""},
		{"gemini/429-bare.json", 429, gemini, jongler.ActionThrottle, now.Add(jongler.DefaultThrottleCooldown), 0, "", false, ""},
		{"gemini/429-openai-compat-array.json", 429, gemini, jongler.ActionThrottle, now.Add(jongler.DefaultThrottleCooldown), 0, "", false, ""},
		{"gemini/400-api-key-invalid.json", 400, gemini, jongler.ActionDisable, time.Time{}, 0, "", false, ""},
		{"gemini/403-leaked-key.json", 403, gemini, jongler.ActionDisable, time.Time{}, 0, "", false, "leak"},
		{"gemini/400-invalid-argument.json", 400, gemini, jongler.ActionAccept, time.Time{}, 0, "", false, ""},
		{"gemini/500-internal.json", 500, gemini, jongler.ActionRetry, time.Time{}, 0, "", false, ""},
		{"gemini/503-overloaded.json", 503, gemini, jongler.ActionRetry, time.Time{}, 0, "", false, ""},
		{"huggingface/401-invalid-token.json", 401, hf, jongler.ActionDisable, time.Time{}, 0, "", false, ""},
		{"huggingface/402-credits-exhausted.json", 402, hf, jongler.ActionLockdown, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), 0, "", false, ""},
		{"huggingface/503-model-loading.json", 503, hf, jongler.ActionRetry, time.Time{}, 20 * time.Second, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			v := tt.policy.Classify(&jongler.Answer{Status: tt.status, Header: http.Header{}, Body: fixture(t, tt.file), Model: "", Now: now})
			if v.Action != tt.action {
				t.Fatalf("action %v, want %v (verdict %+v)", v.Action, tt.action, v)
			}
			if !v.Until.Equal(tt.until) {
				t.Fatalf("until %v, want %v", v.Until, tt.until)
			}
			if v.Wait != tt.wait {
				t.Fatalf("wait %v, want %v", v.Wait, tt.wait)
			}
			if v.Model != tt.model || v.Project != tt.project {
				t.Fatalf("scope model=%q project=%v, want %q %v", v.Model, v.Project, tt.model, tt.project)
			}
			if !strings.Contains(strings.ToLower(v.Reason), tt.reasonHas) {
				t.Fatalf("reason %q lacks %q", v.Reason, tt.reasonHas)
			}
		})
	}
}

func TestGeminiPolicyVariants(t *testing.T) {
	now := time.Date(2026, 3, 10, 22, 20, 30, 500, time.UTC)
	violation := func(id, model, value string) string {
		v := fmt.Sprintf(`{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":%q,"quotaDimensions":{"model":%q,"location":"global"}`, id, model)
		if value != "" {
			v += fmt.Sprintf(`,"quotaValue":%q`, value)
		}
		return v + "}"
	}
	body := func(details ...string) []byte {
		return []byte(`{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[` + strings.Join(details, ",") + `]}}`)
	}
	qf := func(vs ...string) string {
		return `{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[` + strings.Join(vs, ",") + `]}`
	}
	retry := `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}`
	minute := violation("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "gemini-2.5-flash", "10")
	tests := []struct {
		name   string
		body   []byte
		model  string // the request path's model
		action jongler.Action
		until  time.Time
		vmodel string
	}{
		{"retry info first", body(retry, qf(minute)), "", jongler.ActionLockdown, now.Add(12500 * time.Millisecond), "gemini-2.5-flash"},
		{"no retry info: next minute", body(qf(minute)), "", jongler.ActionLockdown, time.Date(2026, 3, 10, 22, 21, 0, 0, time.UTC), "gemini-2.5-flash"},
		{"no quotaValue", body(qf(violation("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "gemini-2.5-flash", "")), retry), "", jongler.ActionLockdown, now.Add(12500 * time.Millisecond), "gemini-2.5-flash"},
		{"no model dimension: the path's", body(`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}`, retry), "gemini-2.0-flash", jongler.ActionLockdown, now.Add(12500 * time.Millisecond), "gemini-2.0-flash"},
		{"minute and day: day wins", body(qf(minute, violation("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "gemini-2.5-flash", "250")), retry), "", jongler.ActionLockdown, time.Date(2026, 3, 11, 7, 0, 0, 0, time.UTC), "gemini-2.5-flash"},
		{"zero quota: a day for that model", body(qf(violation("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "gemini-2.5-pro", "0")), retry), "", jongler.ActionLockdown, now.Add(24 * time.Hour), "gemini-2.5-pro"},
		{"paid tier per minute", body(qf(violation("GenerateContentPaidTierInputTokensPerModelPerMinute", "gemini-2.5-pro", "2000000")), retry), "", jongler.ActionLockdown, now.Add(12500 * time.Millisecond), "gemini-2.5-pro"},
		{"array wrapped", []byte("[" + string(body(qf(minute), retry)) + "]"), "", jongler.ActionLockdown, now.Add(12500 * time.Millisecond), "gemini-2.5-flash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jongler.GeminiPolicy{}.Classify(&jongler.Answer{Status: 429, Body: tt.body, Model: tt.model, Now: now})
			if v.Action != tt.action || !v.Until.Equal(tt.until) || v.Model != tt.vmodel || !v.Project {
				t.Fatalf("verdict %+v, want %v until %v for model %q, project-wide", v, tt.action, tt.until, tt.vmodel)
			}
		})
	}
}

// TestDailyQuotaJustBeforeMidnightLA: a daily 429 at 23:59:30 in Los Angeles
// locks until 00:00 there, whatever retryDelay says.
func TestDailyQuotaJustBeforeMidnightLA(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	for _, day := range []time.Time{
		time.Date(2026, 6, 15, 23, 59, 30, 0, la), // summer time
		time.Date(2026, 1, 15, 23, 59, 30, 0, la), // winter time
		time.Date(2026, 3, 7, 23, 59, 30, 0, la),  // the night before the spring switch
	} {
		v := jongler.GeminiPolicy{}.Classify(&jongler.Answer{Status: 429, Body: fixture(t, "gemini/429-per-day-requests-free.json"), Now: day.UTC()})
		want := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, la)
		if v.Action != jongler.ActionLockdown || !v.Until.Equal(want) {
			t.Fatalf("%v: verdict %+v, want lockdown until %v", day, v, want)
		}
		if d := v.Until.Sub(day); d != 30*time.Second {
			t.Fatalf("%v: locked for %v, want 30s", day, d)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{{"7", 7 * time.Second}, {"", jongler.DefaultCooldown}, {"soon", jongler.DefaultCooldown}} {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		for _, p := range []jongler.Policy{jongler.StatusPolicy{}, jongler.HuggingFacePolicy{}} {
			v := p.Classify(&jongler.Answer{Status: 429, Header: h, Body: []byte(`{"error":"Rate limit reached"}`), Now: now})
			if v.Action != jongler.ActionLockdown || v.Until.Sub(now) != tt.want {
				t.Fatalf("%T with Retry-After %q: %+v, want lockdown for %v", p, tt.header, v, tt.want)
			}
		}
	}
}

func FuzzGeminiPolicy(f *testing.F) {
	for _, name := range []string{"gemini/429-per-minute-tokens-free.json", "gemini/429-per-day-requests-free.json", "gemini/429-bare.json", "gemini/400-api-key-invalid.json", "huggingface/503-model-loading.json"} {
		f.Add(429, fixture(f, name))
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, p := range []jongler.Policy{jongler.GeminiPolicy{}, jongler.HuggingFacePolicy{}} {
			v := p.Classify(&jongler.Answer{Status: status, Header: http.Header{}, Body: body, Now: now})
			switch v.Action {
			case jongler.ActionLockdown, jongler.ActionThrottle:
				if !v.Until.After(now) || v.Until.Sub(now) > 32*24*time.Hour {
					t.Fatalf("%T: status %d: until %v is not a sane future", p, status, v.Until)
				}
			case jongler.ActionRetry:
				if v.Wait < 0 || v.Wait > 24*time.Hour {
					t.Fatalf("%T: wait %v", p, v.Wait)
				}
			}
			if status < 400 && v.Action != jongler.ActionAccept {
				t.Fatalf("%T: status %d gave %v", p, status, v.Action)
			}
		}
	})
}

func BenchmarkGeminiPolicy(b *testing.B) {
	now := time.Now()
	for _, name := range []string{"429-per-minute-tokens-free", "429-per-day-requests-free", "429-per-minute-requests-message-only", "429-bare", "400-api-key-invalid", "503-overloaded"} {
		body := fixture(b, "gemini/"+name+".json")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			a := &jongler.Answer{Status: 429, Header: http.Header{}, Body: body, Now: now}
			for b.Loop() {
				jongler.GeminiPolicy{}.Classify(a)
			}
		})
	}
}

// TestHuggingFaceModelLoading: a 503 "currently loading" waits the
// estimated time, then sends again; the token's state is unchanged.
func TestHuggingFaceModelLoading(t *testing.T) {
	loading := fixture(t, "huggingface/503-model-loading.json")
	n := 0
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if n++; n == 1 {
			w.WriteHeader(503)
			w.Write(loading)
			return
		}
		w.Write([]byte(`[{"generated_text":"hi"}]`))
	})
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr, err := jongler.NewTransport("router.huggingface.co", jongler.WithKeys(keyList(map[string]string{"hf1": "hf_secret_1"})...),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(u.URL), jongler.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(mustRequest(t, u.URL+"/hf-inference/models/google/gemma-2-9b-it"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); resp.StatusCode != 200 || got != `[{"generated_text":"hi"}]` {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	if s := clock.slept(); len(s) != 1 || s[0] != 20*time.Second {
		t.Fatalf("slept %v, want the estimated 20s once", s)
	}
	if seen := u.requests(); len(seen) != 2 || seen[0].key != "hf_secret_1" || !slices.Equal(seen[0].slots, []string{"authorization"}) {
		t.Fatalf("sends %d, first credential in %v", len(seen), seen[0].slots)
	}
	ks, _ := tr.KeyStates(context.Background())
	if len(ks.Vacant) != 1 {
		t.Fatalf("token state changed: %+v", ks)
	}
}

// TestOpenAICompatibleModelScope: the OpenAI-compatible endpoint names the
// model in the body; a per-minute quota there locks that model only.
func TestOpenAICompatibleModelScope(t *testing.T) {
	quota := `[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}]`
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.WriteHeader(429)
		w.Write([]byte(quota))
	})
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: "v-k"}), jongler.WithMaxWait(-1))
	req, _ := http.NewRequest(http.MethodPost, u.URL+"/v1beta/openai/chat/completions", strings.NewReader(`{"model":"gemini-2.5-flash","messages":[]}`))
	req.Header.Set("Authorization", "Bearer placeholder")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	ks, _ := tr.KeyStates(context.Background())
	if d := ks.Keys["k"]; d.State != jongler.StateLockdown || d.Model != "gemini-2.5-flash" {
		t.Fatalf("%+v, want LOCKDOWN for gemini-2.5-flash only", d)
	}
	if s := u.requests()[0]; !slices.Equal(s.slots, []string{"authorization"}) || s.key != "v-k" {
		t.Fatalf("credential in %v", s.slots)
	}
}
