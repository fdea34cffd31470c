package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/jonglertest"
)

// adminCall sends an admin request with tok as a Bearer token ("" for
// none) and returns the status and the body.
func adminCall(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// TestServeAdminAPI drives serve's admin API as a script would: 401 JSON
// without the token, bad bodies named, disable seen by another process
// (apijongler status) and honoured by the proxy, enable, and the data
// endpoint's counts of the last hour.
func TestServeAdminAPI(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 2)
	p := e.start([]string{tokensEnv + "=" + serveToken}, "testgemini")
	act := `{"connector":"testgemini","key":"key1"}`

	for _, c := range []struct{ method, path, body string }{
		{"GET", adminData, ""}, {"POST", adminReset, act}, {"POST", adminDisable, act}, {"POST", adminEnable, act},
	} {
		code, body := adminCall(t, c.method, p.url+c.path, "", c.body)
		if code != 401 || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s %s without the token: %d %s", c.method, c.path, code, body)
		}
		if code, _ := adminCall(t, c.method, p.url+c.path, "wrong-token-00000000", c.body); code != 401 {
			t.Errorf("%s %s with a wrong token: %d", c.method, c.path, code)
		}
	}
	for _, c := range []struct {
		path, body string
		code       int
		says       string
	}{
		{adminDisable, act, 400, `\"for\" \"\"`},
		{adminDisable, `{"connector":"testgemini","key":"key1","for":"9999h"}`, 400, "at most"},
		{adminReset, `{"connector":"testgemini","key":"nokey"}`, 404, `no key named \"nokey\"`},
		{adminReset, `{"connector":"nope","key":"key1"}`, 404, "no served connector"},
		{adminReset, `{"connector":`, 400, "cut short"},
		{adminReset, `{"connector" 1}`, 400, "syntax error"},
		{adminReset, `{"connector":"testgemini","key":"key1","extra":1}`, 400, `unknown field \"extra\"`},
		{adminReset, `{"connector":"testgemini","key":"key1","for":"1h"}`, 400, "is for"},
	} {
		code, body := adminCall(t, "POST", p.url+c.path, serveToken, c.body)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("POST %s %s: %d %s, want %d saying %s", c.path, c.body, code, body, c.code, c.says)
		}
	}

	code, body := adminCall(t, "POST", p.url+adminDisable, serveToken, `{"connector":"testgemini","key":"key1","for":"30m"}`)
	if code != 200 || !strings.Contains(body, `"state":"LOCKDOWN"`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	out, err := e.statusJSON()
	if err != nil || !strings.Contains(out, "disabled for maintenance by token") {
		t.Fatalf("status from another process after disable: %v\n%s", err, out)
	}
	for range 3 {
		if code, body, _ := call(t, "POST", p.url+serveGen, serveToken, serveBody); code != 200 {
			t.Fatalf("generate: %d %s", code, body)
		}
	}
	if st := e.srv.Stats(); st.Keys["key1"].Requests != 0 || st.Keys["key2"].Requests != 3 {
		t.Fatalf("a disabled key was used: %+v", st.Keys)
	}
	if code, body := adminCall(t, "POST", p.url+adminEnable, serveToken, act); code != 200 || !strings.Contains(body, `"state":"VACANT"`) {
		t.Fatalf("enable: %d %s", code, body)
	}

	code, body = adminCall(t, "GET", p.url+adminData, serveToken, "")
	var d dashData
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil || len(d.Connectors) != 1 {
		t.Fatalf("data: %d %s", code, body)
	}
	c := d.Connectors[0]
	if c.Name != "testgemini" || len(c.Keys) != 2 || c.Hour.Requests != 3 || len(c.Minutes) != trafficMinutes || c.Minutes[trafficMinutes-1].Requests+c.Minutes[trafficMinutes-2].Requests != 3 {
		t.Fatalf("data: %+v", c)
	}
	e.noSecrets("the data", body)
	logs := p.stderr.String()
	for _, want := range []string{"action=disable connector=testgemini key=key1 client_name=token for=30m0s", "action=enable connector=testgemini key=key1 client_name=token"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	e.noSecrets("serve's log", logs)
}
