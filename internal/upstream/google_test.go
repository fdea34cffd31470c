package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixture is one real answer body copied from the shared fixtures.
type fixture struct {
	name   string // path under testdata
	status int
	body   []byte
}

// fixtures reads testdata/<service>/*.json; the status is the file name's
// leading number.
func fixtures(tb testing.TB, service string) []fixture {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", service, "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no fixtures for %s: %v", service, err)
	}
	var fs []fixture
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		base := filepath.Base(p)
		status := 0
		for _, c := range base[:strings.IndexByte(base, '-')] {
			status = status*10 + int(c-'0')
		}
		fs = append(fs, fixture{name: service + "/" + base, status: status, body: body})
	}
	return fs
}

func TestGoogleFixtures(t *testing.T) {
	want := map[string]Answer{
		"gemini/429-per-minute-tokens-free.json": {
			Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 26 * time.Second,
			QuotaID: "GenerateContentInputTokensPerModelPerMinute-FreeTier", QuotaLimit: 250000,
			Reason: "per-minute quota GenerateContentInputTokensPerModelPerMinute-FreeTier",
		},
		"gemini/429-per-day-requests-free.json": {
			Kind: QuotaDay, Model: "gemini-2.0-pro-exp", Delay: 5 * time.Second,
			QuotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", QuotaLimit: 25, Requests: true,
			Reason: "per-day quota GenerateRequestsPerDayPerProjectPerModel-FreeTier",
		},
		"gemini/429-per-minute-requests-message-only.json": {
			Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 39006833842 * time.Nanosecond,
			QuotaLimit: 10, Requests: true,
			Reason: "per-minute quota generate_content_free_tier_requests",
		},
		"gemini/429-bare.json":                {Kind: RateLimited, Reason: "rate limited, no quota named"},
		"gemini/429-openai-compat-array.json": {Kind: RateLimited, Reason: "rate limited, no quota named"},
		"gemini/400-api-key-invalid.json":     {Kind: KeyInvalid, Reason: "API key invalid or expired"},
		"gemini/403-leaked-key.json":          {Kind: KeyLeaked, Reason: "API key reported as leaked"},
		"gemini/400-invalid-argument.json":    {Kind: BadRequest, Reason: "bad request: INVALID_ARGUMENT"},
		"gemini/500-internal.json":            {Kind: Transient, Reason: "transient: INTERNAL"},
		"gemini/503-overloaded.json":          {Kind: Transient, Reason: "transient: UNAVAILABLE"},
	}
	checkFixtures(t, "gemini", "Google", Google, want)
}

// checkFixtures checks that classify, named name, gives the answer of want
// for each fixture of service, and that each fixture has one.
func checkFixtures(t *testing.T, service, name string, classify func(int, []byte) Answer, want map[string]Answer) {
	t.Helper()
	fs := fixtures(t, service)
	if len(fs) != len(want) {
		t.Errorf("%d %s fixtures, %d expectations", len(fs), service, len(want))
	}
	for _, f := range fs {
		t.Run(f.name, func(t *testing.T) {
			w, ok := want[f.name]
			if !ok {
				t.Fatalf("no expectation for %s", f.name)
			}
			if got := classify(f.status, f.body); got != w {
				t.Errorf("%s(%d, %s)\n got %+v\nwant %+v", name, f.status, f.name, got, w)
			}
		})
	}
}

// gtest is a Google case: an Answer to expect, where Reason is checked only
// when set.
type gtest struct {
	name   string
	status int
	body   string
	want   Answer
}

func checkGoogle(t *testing.T, tests []gtest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Google(tt.status, []byte(tt.body))
			if tt.want.Reason == "" {
				got.Reason = ""
			}
			if tt.want.QuotaLimit == 0 && !tt.want.Requests { // not what the case is about
				got.QuotaLimit, got.Requests = 0, false
			}
			if got != tt.want {
				t.Errorf("Google(%d, %s)\n got %+v\nwant %+v", tt.status, tt.body, got, tt.want)
			}
		})
	}
}

const (
	help      = `{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]}`
	exceeded  = `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.`
	minuteTok = `{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_input_token_count","quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"250000"}`
	dayReq    = `{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"model":"gemini-2.5-flash","location":"global"},"quotaValue":"250"}`
)

// quota429 builds a 429 body with the given details.
func quota429(details ...string) string {
	return `{"error":{"code":429,"message":"` + exceeded + `","status":"RESOURCE_EXHAUSTED","details":[` + strings.Join(details, ",") + `]}}`
}

func quotaFailure(violations ...string) string {
	return `{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[` + strings.Join(violations, ",") + `]}`
}

func retryInfo(d string) string {
	return `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + d + `"}`
}

func TestGoogleQuotaVariants(t *testing.T) {
	const (
		minuteID = "GenerateContentInputTokensPerModelPerMinute-FreeTier"
		dayID    = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
	)
	checkGoogle(t, []gtest{
		{"details reordered, fields reordered", 429,
			quota429(retryInfo("26s"), help, `{"violations":[{"quotaValue":"250000","quotaDimensions":{"model":"gemini-2.5-flash","location":"global"},"quotaId":"`+minuteID+`","quotaMetric":"m"}],"@type":"type.googleapis.com/google.rpc.QuotaFailure"}`),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 26 * time.Second, QuotaID: minuteID}},
		{"no quotaValue", 429,
			quota429(quotaFailure(`{"quotaId":"`+minuteID+`","quotaDimensions":{"model":"gemini-2.5-flash"}}`), retryInfo("3.5s")),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 3500 * time.Millisecond, QuotaID: minuteID}},
		{"no RetryInfo", 429,
			quota429(quotaFailure(minuteTok), help),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", QuotaID: minuteID, Reason: "per-minute quota " + minuteID}},
		{"no RetryInfo, delay in message", 429,
			`{"error":{"code":429,"message":"Quota exceeded. Please retry in 12s.","status":"RESOURCE_EXHAUSTED","details":[` + quotaFailure(minuteTok) + `]}}`,
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 12 * time.Second, QuotaID: minuteID}},
		{"RetryInfo wins over message", 429,
			`{"error":{"code":429,"message":"Please retry in 12s.","status":"RESOURCE_EXHAUSTED","details":[` + quotaFailure(minuteTok) + `,` + retryInfo("7s") + `]}}`,
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 7 * time.Second, QuotaID: minuteID}},
		{"minute and day: day wins", 429,
			quota429(quotaFailure(minuteTok, dayReq), retryInfo("26s")),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-flash", Delay: 26 * time.Second, QuotaID: dayID, Reason: "per-day quota " + dayID}},
		{"day first then minute: day wins", 429,
			quota429(quotaFailure(dayReq), quotaFailure(minuteTok)),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-flash", QuotaID: dayID}},
		{"zero beats day and minute", 429,
			quota429(quotaFailure(minuteTok, dayReq, `{"quotaId":"GenerateContentInputTokensPerModelPerDay-FreeTier","quotaDimensions":{"model":"gemini-2.5-pro"},"quotaValue":"0"}`), retryInfo("40s")),
			Answer{Kind: QuotaZero, Model: "gemini-2.5-pro", Delay: 40 * time.Second, QuotaID: "GenerateContentInputTokensPerModelPerDay-FreeTier",
				Reason: "zero quota GenerateContentInputTokensPerModelPerDay-FreeTier"}},
		{"quotaValue 0 as a JSON number", 429,
			quota429(quotaFailure(`{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"model":"gemini-2.5-pro"},"quotaValue":0}`)),
			Answer{Kind: QuotaZero, Model: "gemini-2.5-pro", QuotaID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}},
		{"zero violation without model takes another's", 429,
			quota429(quotaFailure(dayReq, `{"quotaId":"X-PerDay","quotaValue":"0"}`)),
			Answer{Kind: QuotaZero, Model: "gemini-2.5-flash", QuotaID: "X-PerDay"}},
		{"paid tier per minute", 429,
			quota429(quotaFailure(`{"quotaMetric":"generativelanguage.googleapis.com/generate_requests_per_model","quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaDimensions":{"model":"gemini-2.5-pro","location":"global"},"quotaValue":"150"}`), retryInfo("45.837906927s")),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-pro", Delay: 45837906927, QuotaID: "GenerateRequestsPerMinutePerProjectPerModel"}},
		{"paid tier tokens per minute", 429,
			quota429(quotaFailure(`{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count","quotaId":"GenerateContentPaidTierInputTokensPerModelPerMinute","quotaDimensions":{"model":"gemini-2.5-flash"},"quotaValue":"1000000"}`)),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", QuotaID: "GenerateContentPaidTierInputTokensPerModelPerMinute"}},
		{"paid tier per day", 429,
			quota429(quotaFailure(`{"quotaMetric":"generativelanguage.googleapis.com/generate_requests_per_model_per_day","quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaDimensions":{"model":"gemini-2.5-pro"},"quotaValue":"10000"}`), retryInfo("1s")),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-pro", Delay: time.Second, QuotaID: "GenerateRequestsPerDayPerProjectPerModel"}},
		{"day only in the metric", 429,
			quota429(quotaFailure(`{"quotaMetric":"generativelanguage.googleapis.com/generate_requests_per_model_per_day","quotaDimensions":{"model":"gemini-2.5-pro"}}`)),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-pro", Reason: "per-day quota generate_requests_per_model_per_day"}},
		{"window unknown counts as minute", 429,
			quota429(quotaFailure(`{"quotaId":"SomeNewQuota","quotaDimensions":{"model":"gemini-3-pro"},"quotaValue":"5"}`), retryInfo("9s")),
			Answer{Kind: QuotaMinute, Model: "gemini-3-pro", Delay: 9 * time.Second, QuotaID: "SomeNewQuota"}},
		{"model with models/ prefix", 429,
			quota429(quotaFailure(`{"quotaId":"` + minuteID + `","quotaDimensions":{"model":"models/gemini-2.5-flash"}}`)),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", QuotaID: minuteID}},
		{"details without @type", 429,
			`{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"2s"},{"violations":[` + dayReq + `]}]}}`,
			Answer{Kind: QuotaDay, Model: "gemini-2.5-flash", Delay: 2 * time.Second, QuotaID: dayID}},
		{"older QuotaFailure with description", 429,
			quota429(quotaFailure(`{"subject":"project:123","description":"Daily Limit Exceeded"}`)),
			Answer{Kind: QuotaDay}},
		{"retryDelay as an object", 429,
			quota429(quotaFailure(minuteTok), `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":{"seconds":"30","nanos":500000000}}`),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 30500 * time.Millisecond, QuotaID: minuteID}},
		{"huge retryDelay is capped", 429,
			quota429(quotaFailure(minuteTok), retryInfo("99999999999999s")),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: MaxDelay, QuotaID: minuteID}},
		{"negative retryDelay is none", 429,
			quota429(quotaFailure(minuteTok), retryInfo("-5s")),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", QuotaID: minuteID}},
		{"ErrorInfo RATE_LIMIT_EXCEEDED metadata", 429,
			`{"error":{"code":429,"message":"Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region' of service 'generativelanguage.googleapis.com' for consumer 'project_number:123'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"quota_limit_value":"60","consumer":"projects/123","quota_limit":"GenerateContentRequestsPerMinutePerProjectPerRegion","service":"generativelanguage.googleapis.com","quota_metric":"generativelanguage.googleapis.com/generate_content_requests","quota_location":"us-east1"}}]}}`,
			Answer{Kind: QuotaMinute, QuotaID: "GenerateContentRequestsPerMinutePerProjectPerRegion"}},
		{"ErrorInfo metadata with zero limit", 429,
			`{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","metadata":{"quota_limit":"GenerateRequestsPerDayPerProjectPerModel","quota_limit_value":"0"}}]}}`,
			Answer{Kind: QuotaZero, QuotaID: "GenerateRequestsPerDayPerProjectPerModel"}},
		{"array wrapped per day", 429,
			`[` + quota429(quotaFailure(dayReq), retryInfo("5s")) + `]`,
			Answer{Kind: QuotaDay, Model: "gemini-2.5-flash", Delay: 5 * time.Second, QuotaID: dayID}},
		{"array, error in second element", 429,
			` [ {"id":1}, ` + quota429(quotaFailure(minuteTok)) + `]`,
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", QuotaID: minuteID}},
		{"code inside a 200 stream", 200,
			quota429(quotaFailure(minuteTok), retryInfo("1s")),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: time.Second, QuotaID: minuteID}},
		{"code as a string", 200,
			`{"error":{"code":"503","message":"The model is overloaded."}}`,
			Answer{Kind: Transient}},
		{"only RetryInfo", 429,
			quota429(retryInfo("17s")),
			Answer{Kind: QuotaMinute, Delay: 17 * time.Second, Reason: "per-minute quota"}},
		{"current quota, nothing more", 429,
			`{"error":{"code":429,"message":"` + exceeded + `","status":"RESOURCE_EXHAUSTED"}}`,
			Answer{Kind: QuotaMinute}},
		{"RATE_LIMIT_EXCEEDED without metadata is a bare 429", 429,
			`{"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}`,
			Answer{Kind: RateLimited}},
	})
}

// msg429 builds a 429 body whose quota lives only in the message.
func msg429(msg string) string {
	return `{"error":{"code":429,"message":"` + msg + `","status":"RESOURCE_EXHAUSTED","details":[` + help + `]}}`
}

func TestGoogleMessageOnly(t *testing.T) {
	const head = exceeded + ` To monitor your current usage, head to: https://ai.dev/rate-limit. \n`
	checkGoogle(t, []gtest{
		{"limit 0 on every line", 429,
			msg429(head + `* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, limit: 0, model: gemini-2.5-pro\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\nPlease retry in 10.454485565s.`),
			Answer{Kind: QuotaZero, Model: "gemini-2.5-pro", Delay: 10454485565, Reason: "zero quota generate_content_free_tier_input_token_count"}},
		{"limit 0 on one line of two", 429,
			msg429(head + `* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, limit: 0, model: gemini-2.5-flash\nPlease retry in 3s.`),
			Answer{Kind: QuotaZero, Model: "gemini-2.5-flash", Delay: 3 * time.Second}},
		{"limit 05 is not zero", 429,
			msg429(`* Quota exceeded for metric: m, limit: 05, model: gemini-2.5-flash`),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash"}},
		{"per-day metric", 429,
			msg429(head + `* Quota exceeded for metric: generativelanguage.googleapis.com/generate_requests_per_model_per_day, limit: 250, model: gemini-2.5-pro\nPlease retry in 20s.`),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-pro", Delay: 20 * time.Second}},
		{"fields reordered and no metric", 429,
			msg429(`Quota exceeded for metric:, model: gemini-2.0-flash, limit: 15. Please retry in 1.5s`),
			Answer{Kind: QuotaMinute, Model: "gemini-2.0-flash", Delay: 1500 * time.Millisecond}},
		{"one line, no newline, several entries", 429,
			msg429(`Quota exceeded for metric: a, limit: 10, model: gemini-2.5-flash; Quota exceeded for metric: b_per_day, limit: 100, model: gemini-2.5-flash`),
			Answer{Kind: QuotaDay, Model: "gemini-2.5-flash", Reason: "per-day quota b_per_day"}},
		{"model case kept", 429,
			msg429(`* Quota exceeded for metric: m, limit: 10, model: Gemini-Exp-1206\n`),
			Answer{Kind: QuotaMinute, Model: "Gemini-Exp-1206"}},
		{"non-ASCII before the model", 429,
			msg429(`Größe \u0130 * Quota exceeded for metric: m, limit: 10, model: gemini-2.5-flash\n`),
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash"}},
		{"shouting, other wording", 429,
			msg429(`QUOTA EXCEEDED FOR METRIC: X, LIMIT: 10, MODEL: GEMINI-2.5-FLASH. PLEASE RETRY IN 7S.`),
			Answer{Kind: QuotaMinute, Model: "GEMINI-2.5-FLASH", Delay: 7 * time.Second}},
		{"retry in words", 429,
			msg429(`Too many requests, try again in 30 seconds.`),
			Answer{Kind: QuotaMinute, Delay: 30 * time.Second}},
		{"old prose per minute", 429,
			msg429(`Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region' of service 'generativelanguage.googleapis.com' for consumer 'project_number:123'.`),
			Answer{Kind: QuotaMinute}},
		{"vertex, metric without the word metric", 429,
			msg429(`Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model with base model: gemini-1.5-pro. Please submit a quota increase request.`),
			Answer{Kind: QuotaMinute, Model: "gemini-1.5-pro", Reason: "per-minute quota generate_content_requests_per_minute_per_project_per_base_model"}},
		{"old prose per day", 429,
			msg429(`Quota exceeded for quota metric 'Generate Content API requests per day' and limit 'GenerateContent request limit per day' of service 'generativelanguage.googleapis.com' for consumer 'project_number:123'.`),
			Answer{Kind: QuotaDay}},
		{"prose day without the quota phrase", 429,
			msg429(`You have reached your daily limit.`),
			Answer{Kind: QuotaDay}},
		{"model name that is not one", 429,
			msg429(`* Quota exceeded for metric: m, limit: 10, model: <script>\n`),
			Answer{Kind: QuotaMinute}},
		{"message-only array wrapped", 429,
			`[` + msg429(`* Quota exceeded for metric: m, limit: 10, model: gemini-2.5-flash\nPlease retry in 39.006833842s.`) + `]`,
			Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: 39006833842}},
	})
}

func TestGoogleKeyAndOthers(t *testing.T) {
	errorInfo := func(code int, status, msg, reason string) string {
		return `{"error":{"code":` + strconv.Itoa(code) + `,"message":"` + msg + `","status":"` + status + `","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"` + reason + `","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}`
	}
	checkGoogle(t, []gtest{
		{"expired key", 400,
			errorInfo(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.", "API_KEY_INVALID"),
			Answer{Kind: KeyInvalid, Reason: "API key invalid or expired"}},
		{"invalid key, details reordered", 400,
			`{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid."},{"metadata":{"service":"generativelanguage.googleapis.com"},"reason":"API_KEY_INVALID","@type":"type.googleapis.com/google.rpc.ErrorInfo"}],"status":"INVALID_ARGUMENT","message":"API key not valid. Please pass a valid API key.","code":400}}`,
			Answer{Kind: KeyInvalid}},
		{"invalid key, message only", 400,
			`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`,
			Answer{Kind: KeyInvalid}},
		{"invalid key, array wrapped", 400,
			`[` + errorInfo(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID") + `]`,
			Answer{Kind: KeyInvalid}},
		{"echoed request text cannot disable a key", 400,
			`{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"API key not valid, reported as leaked, has been suspended\": Cannot find field.","status":"INVALID_ARGUMENT"}}`,
			Answer{Kind: BadRequest}},
		{"leaked, reworded", 403,
			`{"error":{"code":403,"message":"This API key has been leaked and can no longer be used.","status":"PERMISSION_DENIED"}}`,
			Answer{Kind: KeyLeaked}},
		{"service blocked", 403,
			errorInfo(403, "PERMISSION_DENIED", "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent are blocked.", "API_KEY_SERVICE_BLOCKED"),
			Answer{Kind: KeyBlocked, Reason: "API key blocked: API_KEY_SERVICE_BLOCKED"}},
		{"consumer suspended", 403,
			errorInfo(403, "PERMISSION_DENIED", "Permission denied: Consumer 'api_key:AIza' has been suspended.", "CONSUMER_SUSPENDED"),
			Answer{Kind: KeyBlocked, Reason: "API key blocked: CONSUMER_SUSPENDED"}},
		{"service disabled", 403,
			errorInfo(403, "PERMISSION_DENIED", "Generative Language API has not been used in project 123 before or it is disabled.", "SERVICE_DISABLED"),
			Answer{Kind: KeyBlocked, Reason: "API key blocked: SERVICE_DISABLED"}},
		{"referrer blocked", 403,
			errorInfo(403, "PERMISSION_DENIED", "Requests from referer <empty> are blocked.", "API_KEY_HTTP_REFERRER_BLOCKED"),
			Answer{Kind: KeyBlocked}},
		{"suspended, message only", 403,
			`{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:AIza' has been suspended.","status":"PERMISSION_DENIED"}}`,
			Answer{Kind: KeyBlocked, Reason: "API key blocked"}},
		{"service disabled, message only", 403,
			`{"error":{"code":403,"message":"Generative Language API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview?project=123 then retry.","status":"PERMISSION_DENIED"}}`,
			Answer{Kind: KeyBlocked}},
		{"caller lacks permission", 403,
			`{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`,
			Answer{Kind: ModelDenied, Reason: "permission denied for the model"}},
		{"unauthenticated", 401,
			`{"error":{"code":401,"message":"API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal.","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CREDENTIALS_MISSING"}]}}`,
			Answer{Kind: Unauthorized}},
		{"user location", 400,
			`{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			Answer{Kind: BadRequest, Reason: "bad request: FAILED_PRECONDITION"}},
		{"precondition violations are not quota", 400,
			`{"error":{"code":400,"message":"x","status":"FAILED_PRECONDITION","details":[{"@type":"type.googleapis.com/google.rpc.PreconditionFailure","violations":[{"type":"TOS","subject":"x","description":"per day"}]}]}}`,
			Answer{Kind: BadRequest}},
		{"model not found", 404,
			`{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}`,
			Answer{Kind: BadRequest, Reason: "bad request: NOT_FOUND"}},
		{"high demand", 503,
			`{"error":{"code":503,"message":"This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.","status":"UNAVAILABLE"}}`,
			Answer{Kind: Transient}},
		{"deadline", 504,
			`{"error":{"code":504,"message":"The request timed out. Please try again.","status":"DEADLINE_EXCEEDED"}}`,
			Answer{Kind: Transient, Reason: "transient: DEADLINE_EXCEEDED"}},
		{"overloaded in a 200 stream without code", 200,
			`{"error":{"message":"The model is overloaded. Please try again later."}}`,
			Answer{Kind: Transient}},
		{"odd status name is not echoed", 500,
			`{"error":{"code":500,"message":"x","status":"<b>hi</b>"}}`,
			Answer{Kind: Transient, Reason: "transient: HTTP 500"}},
		{"unknown 418", 418,
			`{"error":{"code":418,"message":"I'm a teapot","status":"TEAPOT"}}`,
			Answer{Kind: Unknown, Reason: "unrecognised answer, HTTP 418"}},
	})
}

func TestGoogleGarbage(t *testing.T) {
	checkGoogle(t, []gtest{
		{"empty 503", 503, ``, Answer{Kind: Transient, Reason: "server error, HTTP 503"}},
		{"empty 429", 429, ``, Answer{Kind: Unknown, Reason: "unrecognised answer, HTTP 429"}},
		{"html 502", 502, `<html><body>Bad Gateway</body></html>`, Answer{Kind: Transient}},
		{"html 403", 403, `<html>Forbidden</html>`, Answer{Kind: Unknown}},
		{"truncated json 429", 429, `{"error":{"code":429,"message":"You exceeded your current quota`, Answer{Kind: Unknown}},
		{"trailing garbage", 400, `{"error":{"code":400,"message":"API key not valid."}}}`, Answer{Kind: Unknown}},
		{"null", 429, `null`, Answer{Kind: Unknown}},
		{"string", 500, `"error"`, Answer{Kind: Transient}},
		{"error is a string", 401, `{"error":"Invalid credentials"}`, Answer{Kind: Unknown}},
		{"error is null", 503, `{"error":null}`, Answer{Kind: Transient}},
		{"error is empty", 429, `{"error":{}}`, Answer{Kind: Unknown}},
		{"empty array", 429, `[]`, Answer{Kind: Unknown}},
		{"array of junk", 500, `[1,"a",null]`, Answer{Kind: Transient}},
		{"details not an array", 429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":{"a":1}}}`, Answer{Kind: RateLimited}},
		{"violations of wrong types", 429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"QuotaFailure","violations":[1,{"quotaId":7,"quotaValue":[]},{"quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}]}}`,
			Answer{Kind: QuotaDay, QuotaID: "GenerateRequestsPerDayPerProjectPerModel"}},
		{"no status at all", 0, `{"error":{"message":"?"}}`, Answer{Kind: Unknown}},
		{"negative status", -1, "\x00\xff{", Answer{Kind: Unknown}},
		{"huge code", 200, `{"error":{"code":99999999999999999999999,"message":"x"}}`, Answer{Kind: Unknown}},
	})
}

// TestGoogleLargeBody checks that work grows linearly: a multi-megabyte
// message with many quota lines and no newlines is classified, and a body
// 8 times larger takes about 8 times as long, far from the 64 times of
// quadratic work. The two sizes are timed in turns, 5 times each, and each
// keeps its fastest time, so that a loaded machine slows both alike; the
// bound (24 times) sits between linear and quadratic with room on both
// sides.
func TestGoogleLargeBody(t *testing.T) {
	line := `Quota exceeded for metric: m, limit: 10, model: gemini-2.5-flash, `
	body := func(n int) []byte {
		return []byte(msg429(strings.Repeat(line, 4000*n) + strings.Repeat("x", n<<16) + ` Please retry in 2s.`))
	}
	run := func(b []byte) time.Duration {
		start := time.Now()
		got := Google(429, b)
		d := time.Since(start)
		if got.Kind != QuotaMinute || got.Model != "gemini-2.5-flash" || got.Delay != 2*time.Second {
			t.Fatalf("got %+v", got)
		}
		return d
	}
	smallBody, largeBody := body(1), body(8)
	small, large := time.Duration(1<<63-1), time.Duration(1<<63-1)
	for range 5 {
		small = min(small, run(smallBody))
		large = min(large, run(largeBody))
	}
	t.Logf("small %v, large %v (%.1f times)", small, large, float64(large)/float64(small))
	if large > 24*small+20*time.Millisecond {
		t.Errorf("8 times the body took %v against %v: not linear", large, small)
	}
}

// TestGoogleFixtureShapes re-encodes every fixture in the shapes real
// services also use and expects the same Answer: pretty-printed (what
// Gemini sends), wrapped in an array (the OpenAI-compatible endpoint), and
// with its details in every order.
func TestGoogleFixtureShapes(t *testing.T) {
	for _, f := range fixtures(t, "gemini") {
		want := Google(f.status, f.body)
		check := func(shape string, body []byte) {
			t.Helper()
			if got := Google(f.status, body); got != want {
				t.Errorf("%s %s:\n got %+v\nwant %+v\n%s", f.name, shape, got, want, body)
			}
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, f.body, "", "  "); err != nil {
			t.Fatal(err)
		}
		check("indented", append(pretty.Bytes(), '\n'))
		if f.body[0] == '{' {
			check("array", []byte("[\n"+pretty.String()+"\n]\n"))
		}

		var doc map[string]map[string]any
		if json.Unmarshal(f.body, &doc) != nil {
			continue // the array fixture
		}
		details, _ := doc["error"]["details"].([]any)
		for _, perm := range permutations(len(details)) {
			shuffled := make([]any, len(details))
			for i, j := range perm {
				shuffled[i] = details[j]
			}
			doc["error"]["details"] = shuffled
			body, err := json.Marshal(doc) // also sorts keys: another field order
			if err != nil {
				t.Fatal(err)
			}
			check("details order "+fmt.Sprint(perm), body)
		}
	}
}

// permutations returns every ordering of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestGoogleDroppedFields removes optional parts from the quota fixtures
// one at a time: the answer keeps its kind, and loses only what was
// removed.
func TestGoogleDroppedFields(t *testing.T) {
	for _, name := range []string{"429-per-minute-tokens-free", "429-per-day-requests-free"} {
		body, err := os.ReadFile(filepath.Join("testdata", "gemini", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		full := Google(429, body)
		for _, drop := range []string{"quotaValue", "quotaMetric", "RetryInfo", "Help", "location", "status", "code"} {
			var doc map[string]map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			e := doc["error"]
			delete(e, drop)
			var kept []any
			for _, d := range e["details"].([]any) {
				d := d.(map[string]any)
				if strings.HasSuffix(d["@type"].(string), "."+drop) {
					continue
				}
				for _, v := range asSlice(d["violations"]) {
					v := v.(map[string]any)
					delete(v, drop)
					delete(v["quotaDimensions"].(map[string]any), drop)
				}
				kept = append(kept, d)
			}
			e["details"] = kept
			b, _ := json.Marshal(doc)
			want := full
			switch drop {
			case "RetryInfo":
				want.Delay = 0
			case "quotaValue":
				want.QuotaLimit = 0
			case "quotaMetric":
				want.Requests = requestQuota(want.QuotaID, "")
			}
			if got := Google(429, b); got != want {
				t.Errorf("%s without %s:\n got %+v\nwant %+v", name, drop, got, want)
			}
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestGoogleEdges(t *testing.T) {
	withRetry := func(raw string) string {
		return quota429(quotaFailure(minuteTok), `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":`+raw+`}`)
	}
	const id = "GenerateContentInputTokensPerModelPerMinute-FreeTier"
	minute := func(d time.Duration) Answer {
		return Answer{Kind: QuotaMinute, Model: "gemini-2.5-flash", Delay: d, QuotaID: id}
	}
	checkGoogle(t, []gtest{
		{"retryDelay object, negative", 429, withRetry(`{"seconds":-3}`), minute(0)},
		{"retryDelay object, huge", 429, withRetry(`{"seconds":"9223372036854775807","nanos":1}`), minute(MaxDelay)},
		{"retryDelay object, nanos only", 429, withRetry(`{"nanos":5}`), minute(0)},
		{"retryDelay object, broken nanos", 429, withRetry(`{"seconds":2,"nanos":"x"}`), minute(2 * time.Second)},
		{"retryDelay number", 429, withRetry(`12`), minute(0)},
		{"retryDelay bad string", 429, withRetry(`"12 s"`), minute(0)},
		{"retryDelay hugely negative", 429, withRetry(`"-99999999999999s"`), minute(0)},
		{"retry hint in ms", 429, msg429(`Please retry in 1500ms.`), Answer{Kind: QuotaMinute, Delay: 1500 * time.Millisecond}},
		{"retry hint in minutes", 429, msg429(`Please retry after 2 minutes.`), Answer{Kind: QuotaMinute, Delay: 2 * time.Minute}},
		{"retry hint in hours", 429, msg429(`Try again in 1.5 hours.`), Answer{Kind: QuotaMinute, Delay: 90 * time.Minute}},
		{"retry hint too big", 429, msg429(`Please retry in 99999999999999s.`), Answer{Kind: QuotaMinute, Delay: MaxDelay}},
		{"retry hint without unit", 429, msg429(`Please retry in 5. Or retry after soon.`), Answer{Kind: RateLimited}},
		{"leaked by ErrorInfo", 403,
			`{"error":{"code":403,"message":"x","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_LEAKED"}]}}`,
			Answer{Kind: KeyLeaked}},
		{"first key reason wins", 400,
			`{"error":{"code":400,"message":"x","details":[{"@type":"ErrorInfo","reason":"API_KEY_INVALID"},{"@type":"ErrorInfo","reason":"SERVICE_DISABLED"}]}}`,
			Answer{Kind: KeyInvalid}},
		{"ErrorInfo without @type", 403,
			`{"error":{"code":403,"message":"x","details":[{"reason":"CONSUMER_SUSPENDED"}]}}`,
			Answer{Kind: KeyBlocked}},
		{"unrelated ErrorInfo is ignored", 400,
			`{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT","details":[{"@type":"ErrorInfo","reason":"SOMETHING_ELSE"}]}}`,
			Answer{Kind: BadRequest}},
		{"quota metadata by metric only", 429,
			`{"error":{"code":429,"message":"x","details":[{"@type":"ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","metadata":{"quota_metric":"x/requests_per_day"}}]}}`,
			Answer{Kind: QuotaDay, Reason: "per-day quota requests_per_day"}},
		{"501", 501, `{"error":{"code":501,"message":"Not implemented"}}`, Answer{Kind: BadRequest, Reason: "bad request: HTTP 501"}},
		{"code names without HTTP status: not found", 0, `{"error":{"status":"NOT_FOUND","message":"x"}}`, Answer{Kind: BadRequest}},
		{"code names without HTTP status: unavailable", 0, `{"error":{"status":"UNAVAILABLE","message":"x"}}`, Answer{Kind: Transient}},
		{"code names without HTTP status: quota", 0, `{"error":{"status":"RESOURCE_EXHAUSTED","message":"x"}}`, Answer{Kind: RateLimited}},
		{"code names without HTTP status: unauthenticated", 0, `{"error":{"status":"UNAUTHENTICATED","message":"x"}}`, Answer{Kind: Unauthorized}},
		{"model name too long is dropped", 429,
			quota429(quotaFailure(`{"quotaId":"X","quotaDimensions":{"model":"` + strings.Repeat("a", 300) + `"}}`)),
			Answer{Kind: QuotaMinute, QuotaID: "X"}},
		{"model name starting with a dot is dropped", 429,
			quota429(quotaFailure(`{"quotaId":"X","quotaDimensions":{"model":"../etc"}}`)),
			Answer{Kind: QuotaMinute, QuotaID: "X"}},
		{"long quota id with a window", 429,
			quota429(quotaFailure(`{"quotaId":"` + strings.Repeat("A", 200) + `PerDay"}`)),
			Answer{Kind: QuotaDay}},
	})
}

func TestKindString(t *testing.T) {
	for k := Unknown; k <= ResourceDenied; k++ {
		if s := k.String(); s == "" || s == "Kind(?)" {
			t.Errorf("Kind(%d).String() = %q", k, s)
		}
	}
	if s := Kind(-1).String(); s != "Kind(?)" {
		t.Errorf("Kind(-1).String() = %q", s)
	}
	if s := (ResourceDenied + 1).String(); s != "Kind(?)" {
		t.Errorf("Kind(ResourceDenied+1).String() = %q", s)
	}
}
