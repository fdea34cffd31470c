package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestResourcesGoToTheirProject: Gemini files and cached contents belong
// to the project that created them. The transport learns the owner from
// the creation's answer (a resumable upload included) and sends requests
// naming them with that project's keys only; a 403 on a resource it knows
// nothing of is returned at once, and no key goes to ERROR.
func TestResourcesGoToTheirProject(t *testing.T) {
	keys := []jongler.Key{
		{Name: "a1", Value: "res-a1-value-0b2e", Project: "proj-a"},
		{Name: "b1", Value: "res-b1-value-7f41", Project: "proj-b"},
		{Name: "b2", Value: "res-b2-value-93cd", Project: "proj-b"},
	}
	projectOf := map[string]string{}
	for _, k := range keys {
		projectOf[k.Value] = k.Project
	}
	var mu sync.Mutex
	owner := map[string]string{} // resource -> project
	denied := 0
	var u *upstream
	u = newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		mu.Lock()
		defer mu.Unlock()
		p := projectOf[key]
		deny := func(what string) {
			denied++
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"error":{"code":403,"message":%q,"status":"PERMISSION_DENIED"}}`, what)
		}
		body := u.requests()[len(u.requests())-1].body
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1beta/cachedContents":
			name := fmt.Sprintf("cachedContents/c%d", len(owner))
			owner[name] = p
			fmt.Fprintf(w, `{"name":%q,"model":"models/gemini-2.5-flash"}`, name)
		case r.Method == "POST" && r.URL.Path == "/upload/v1beta/files" && r.URL.Query().Get("upload_id") == "":
			owner["uploads/U1"] = p
			w.Header().Set("X-Goog-Upload-URL", u.URL+"/upload/v1beta/files?upload_id=U1&upload_protocol=resumable")
		case r.Method == "POST" && r.URL.Path == "/upload/v1beta/files":
			if owner["uploads/U1"] != p {
				deny("You do not have permission to access the File uploads/U1 or it may not exist.")
				return
			}
			owner["files/f1"] = p
			fmt.Fprint(w, `{"file":{"name":"files/f1","mimeType":"text/plain"}}`)
		default:
			for _, m := range []string{"files/f1", "cachedContents/c0", "cachedContents/unknown"} {
				if strings.Contains(r.URL.Path, m) || strings.Contains(body, m) {
					if owner[m] != p {
						if strings.HasPrefix(m, "files/") {
							deny("You do not have permission to access the File " + m + " or it may not exist.")
						} else {
							deny("CachedContent not found (or permission denied)")
						}
						return
					}
				}
			}
			fmt.Fprint(w, `{"candidates":[]}`)
		}
	})
	tr := newTransport(t, u, jongler.WithKeys(keys...), jongler.WithStore(jongler.NewMemoryStore()), jongler.WithMaxWait(-1))
	send := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), method, u.URL+path, strings.NewReader(body))
		req.Header.Set("x-goog-api-key", "placeholder")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		readBody(t, resp)
		return resp.StatusCode
	}
	if got := send("POST", "/v1beta/cachedContents", `{"model":"models/gemini-2.5-flash","contents":[]}`); got != 200 {
		t.Fatalf("create: %d", got)
	}
	use := `{"cachedContent":"cachedContents/c0","contents":[{"parts":[{"text":"hi"}]}]}`
	for i := range 6 {
		if got := send("POST", genPath, use); got != 200 {
			t.Fatalf("use %d: %d", i, got)
		}
	}
	// A resumable upload: the session's owner gets the upload, and the
	// file's owner every use of it.
	if got := send("POST", "/upload/v1beta/files", `{"file":{"display_name":"f"}}`); got != 200 {
		t.Fatalf("upload start: %d", got)
	}
	for i := range 3 {
		if got := send("POST", "/upload/v1beta/files?upload_id=U1&upload_protocol=resumable", "data"); got != 200 {
			t.Fatalf("upload %d: %d", i, got)
		}
	}
	for i := range 4 {
		if got := send("GET", "/v1beta/files/f1", ""); got != 200 {
			t.Fatalf("get file %d: %d", i, got)
		}
		fileUse := `{"contents":[{"parts":[{"fileData":{"fileUri":"` + u.URL + `/v1beta/files/f1"}}]}]}`
		if got := send("POST", genPath, fileUse); got != 200 {
			t.Fatalf("use file %d: %d", i, got)
		}
	}
	if denied != 0 {
		t.Fatalf("%d requests were sent to a project that cannot see the resource", denied)
	}
	// Nobody knows who made this one: its 403 comes back at once.
	sent := len(u.requests())
	if got := send("POST", genPath, `{"cachedContent":"cachedContents/unknown","contents":[]}`); got != 403 || len(u.requests()) != sent+1 {
		t.Fatalf("unknown resource: %d after %d sends, want the 403 at once", got, len(u.requests())-sent)
	}
	ks, _ := tr.KeyStates(context.Background())
	if len(ks.Error) != 0 || len(ks.Lockdown) != 0 {
		t.Fatalf("states %+v: no key may be refused for a resource's 403", ks)
	}
}
