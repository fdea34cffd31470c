package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/cmd/internal/serving"
	"github.com/api-jongler/jongler/jonglertest"
)

// TestMetricsEndpoint sends requests through a transport recording with
// serving.NewMetrics' provider (a bare 429 absorbed, then a success) and scrapes
// the handler over HTTP: every jongler metric is there with its labels,
// the exposition passes promlint, and no key value appears in it.
func TestMetricsEndpoint(t *testing.T) {
	mp, handler, err := serving.NewMetrics(buildVersion(version, readBuildInfo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mp.Shutdown(context.Background()) })

	keys := []jongler.Key{
		{Name: "alpha", Value: "metrics-secret-alpha-7f10", Project: "p1"},
		{Name: "beta", Value: "metrics-secret-beta-22ce", Project: "p2"},
	}
	srv := jonglertest.NewServer(jonglertest.Config{Keys: []jonglertest.Key{
		{Label: "alpha", Value: keys[0].Value, Project: "p1"},
		{Label: "beta", Value: keys[1].Value, Project: "p2"},
	}})
	t.Cleanup(srv.Close)
	tr, err := jongler.NewTransport("gemini", jongler.WithKeys(keys...), jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(srv.URL), jongler.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv.InjectFaults(jonglertest.FaultRateLimit, 1)
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/gemini-2.5-flash:generateContent",
			strings.NewReader(`{"contents":[{"parts":[{"text":"Hi"}]}]}`))
		req.Header.Set("x-goog-api-key", "proxy-token-0c4b")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}

	ms := httptest.NewServer(handler)
	t.Cleanup(ms.Close)
	resp, err := ms.Client().Get(ms.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	text := string(body)
	for _, s := range []string{keys[0].Value, keys[1].Value, "proxy-token-0c4b"} {
		if strings.Contains(text, s) {
			t.Errorf("/metrics holds a key value or token (%.10s...)", s)
		}
	}

	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	for name, want := range map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"jongler_requests_total":           {dto.MetricType_COUNTER, []string{"connector", "key", "model", "status"}},
		"jongler_request_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"connector", "key", "model", "status"}},
		"jongler_upstream_attempts_total":  {dto.MetricType_COUNTER, []string{"connector", "key", "model", "status", "verdict"}},
		"jongler_upstream_absorbed_total":  {dto.MetricType_COUNTER, []string{"connector", "key", "model", "status"}},
		"jongler_key_wait_seconds":         {dto.MetricType_HISTOGRAM, []string{"connector", "model", "outcome"}},
		"jongler_keys":                     {dto.MetricType_GAUGE, []string{"connector", "state"}},
		"jongler_leases_in_flight":         {dto.MetricType_GAUGE, []string{"connector", "key"}},
	} {
		f, ok := families[name]
		if !ok {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		if f.GetType() != want.typ {
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), want.typ)
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				if !strings.HasPrefix(l.GetName(), "otel_scope_") {
					got = append(got, l.GetName())
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want.labels) {
				t.Errorf("%s labels %v, want %v", name, got, want.labels)
			}
		}
	}
	absorbed := families["jongler_upstream_absorbed_total"].GetMetric()
	if len(absorbed) != 1 || absorbed[0].GetCounter().GetValue() != 1 || label(absorbed[0], "status") != "429" {
		t.Errorf("jongler_upstream_absorbed_total: %v, want one 429 absorbed", absorbed)
	}
	for _, m := range families["jongler_requests_total"].GetMetric() {
		if label(m, "connector") != jongler.ConnectorGemini || label(m, "status") != "200" {
			t.Errorf("jongler_requests_total %v, want connector %s, status 200", m, jongler.ConnectorGemini)
		}
	}

	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		if strings.HasPrefix(pr.Metric, "jongler_") {
			t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
