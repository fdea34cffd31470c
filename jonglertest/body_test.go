package jonglertest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"testing"

	"github.com/api-jongler/jongler/jonglertest"
)

// The files in testdata are Google's real answers (copied from
// /work/shared/fixtures/gemini). These tests provoke each of them and compare.

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBodiesMatchGoogleByteForByte(t *testing.T) {
	tests := []struct {
		fixture string
		status  int
		send    func(srv *jonglertest.Server) result
	}{
		{"400-api-key-invalid.json", 400, func(srv *jonglertest.Server) result {
			return gen(t, srv, "no-such-key", flash)
		}},
		{"403-leaked-key.json", 403, func(srv *jonglertest.Server) result {
			return gen(t, srv, "value-leaked", flash)
		}},
		{"400-invalid-argument.json", 400, func(srv *jonglertest.Server) result {
			return post(t, srv, "/v1beta/models/"+flash+":generateContent", `{"contnts":[]}`, "x-goog-api-key", "value-ok")
		}},
		{"500-internal.json", 500, func(srv *jonglertest.Server) result {
			srv.InjectFaults(jonglertest.FaultInternal, 1)
			return gen(t, srv, "value-ok", flash)
		}},
		{"503-overloaded.json", 503, func(srv *jonglertest.Server) result {
			srv.InjectFaults(jonglertest.FaultOverloaded, 1)
			return gen(t, srv, "value-ok", flash)
		}},
		{"429-bare.json", 429, func(srv *jonglertest.Server) result {
			srv.InjectFaults(jonglertest.FaultRateLimit, 1)
			return gen(t, srv, "value-ok", flash)
		}},
		{"429-openai-compat-array.json", 429, func(srv *jonglertest.Server) result {
			srv.InjectFaults(jonglertest.FaultRateLimit, 1)
			return post(t, srv, "/v1beta/openai/chat/completions",
				`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}]}`,
				"Authorization", "Bearer value-ok")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{Keys: []jonglertest.Key{
				{Label: "ok", Value: "value-ok"},
				{Label: "leaked", Value: "value-leaked", Leaked: true},
			}})
			defer srv.Close()
			r := tt.send(srv)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tt.status {
				t.Errorf("status %d, want %d", r.status, tt.status)
			}
			if want := fixture(t, tt.fixture); !bytes.Equal(r.body, want) {
				t.Errorf("body\n%s\nwant\n%s", r.body, want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// decodeJSON decodes b into a generic value.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// sameShape reports whether a and b have the same object keys and value
// types everywhere (values may differ).
func sameShape(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameShape(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameShape(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.TypeOf(a) == reflect.TypeOf(b)
	}
}

var (
	retryDelayField = regexp.MustCompile(`"retryDelay":"[0-9.]+s"`)
	retryInMessage  = regexp.MustCompile(`Please retry in [0-9.]+s\.`)
)

func TestQuotaBodiesMatchGoogle(t *testing.T) {
	tests := []struct {
		fixture     string
		model       string
		quota       jonglertest.Quota
		messageOnly bool
		exact       bool // equal as JSON once the delay is replaced; else same shape
	}{
		{"429-per-day-requests-free.json", "gemini-2.0-pro-exp", jonglertest.Quota{RPM: 100, RPD: 25}, false, true},
		{"429-per-minute-requests-message-only.json", flash, jonglertest.Quota{RPM: 10, RPD: 250}, true, true},
		// Token quotas are not simulated; the request quota body has the
		// same shape.
		{"429-per-minute-tokens-free.json", flash, jonglertest.Quota{RPM: 10, RPD: 250}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			srv := jonglertest.NewServer(jonglertest.Config{
				Keys:        keys("p", "k"),
				Models:      map[string]jonglertest.Quota{tt.model: tt.quota},
				Start:       noon,
				MessageOnly: tt.messageOnly,
			})
			defer srv.Close()
			limit := min(tt.quota.RPM, tt.quota.RPD)
			for i := range limit {
				if r := gen(t, srv, "value-k", tt.model); r.status != 200 {
					t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
				}
			}
			r := gen(t, srv, "value-k", tt.model)
			if r.status != 429 {
				t.Fatalf("status %d, want 429", r.status)
			}
			want := fixture(t, tt.fixture)
			if !tt.exact {
				if !sameShape(decodeJSON(t, r.body), decodeJSON(t, want)) {
					t.Errorf("body\n%s\nhas not the shape of\n%s", r.body, want)
				}
				return
			}
			got := retryDelayField.ReplaceAll(r.body, []byte(`"retryDelay":"5s"`))
			got = retryInMessage.ReplaceAll(got, []byte(`Please retry in 39.006833842s.`))
			if !reflect.DeepEqual(decodeJSON(t, got), decodeJSON(t, want)) {
				t.Errorf("body\n%s\nwant (but for the delay)\n%s", r.body, want)
			}
		})
	}
}
