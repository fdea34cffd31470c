package jongler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/api-jongler/jongler/internal/state"
)

// Gemini files (files/…) and cached contents (cachedContents/…) belong to
// the project whose key created them: another project's key gets 403 "You
// do not have permission to access the File" or "CachedContent not found
// (or permission denied)". The transport learns the owner from the answer
// to the creation (an upload included: the resumable session's upload_id
// first, then the file), keeps it in the store's state, and sends a request
// naming such a resource with a key of the owner's project only.

// resourceName matches the resources a Gemini request may name, in its
// path, query or body ("fileUri": ".../v1beta/files/abc",
// "cachedContent": "cachedContents/xyz").
var resourceName = regexp.MustCompile(`\b(files|cachedContents)/[A-Za-z0-9_-]{1,128}`)

// routesResources reports whether the transport routes requests by the
// owners of the resources they name: Gemini only.
func (t *Transport) routesResources() bool { return t.connector.Policy == "gemini" }

// resourcesOf lists the resources a request names: in its path, its
// upload_id, and the first errorBodyLimit bytes of its body.
func resourcesOf(req *http.Request, getBody func() (io.ReadCloser, error)) []string {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, m := range resourceName.FindAllString(req.URL.Path, -1) {
		add(m)
	}
	if id := req.URL.Query().Get("upload_id"); id != "" && len(id) <= 512 {
		add("uploads/" + id)
	}
	if getBody != nil {
		if rc, err := getBody(); err == nil {
			data, _ := io.ReadAll(io.LimitReader(rc, errorBodyLimit))
			rc.Close()
			for _, m := range resourceName.FindAll(data, 16) {
				add(string(m))
			}
		}
	}
	return names
}

// ownerRefusals returns the keys a request must not be sent with: those
// outside the project that owns the resources it names. It returns nil
// when the owner is not known, the resources have different owners, or no
// key of the owner is configured (another configuration created them).
func (t *Transport) ownerRefusals(ctx context.Context, req *http.Request, getBody func() (io.ReadCloser, error)) []tried {
	if !t.routesResources() || t.ring == nil {
		return nil
	}
	// The state is cached, and most have no owners: look there first, so
	// that a request is not scanned (path, query, body) for nothing.
	st, err := t.ring.load(ctx)
	if err != nil || len(st.Owners) == 0 {
		return nil
	}
	names := resourcesOf(req, getBody)
	if len(names) == 0 {
		return nil
	}
	project := ""
	for _, n := range names {
		owner, ok := st.OwnerOf(n)
		if !ok {
			continue
		}
		if project != "" && project != owner {
			return nil // owners differ: no key can serve both
		}
		project = owner
	}
	if project == "" || !slices.ContainsFunc(t.ring.keys, func(k Key) bool { return k.Project == project }) {
		return nil
	}
	var out []tried
	for _, k := range t.ring.keys {
		if k.Project != project {
			out = append(out, tried{name: k.Name})
		}
	}
	t.logger.Debug("jongler: request routed to the project owning its resources", "connector", t.connector.Name, "project", project)
	return out
}

// learnOwner records, from a successful creation answer, which project
// created the resources it names: the file of an upload or of
// POST …/files, the cached content of POST …/cachedContents, and the
// upload session of a resumable upload's start (its upload_id). The body
// of such an answer is read (it is small) and handed on unchanged.
func (t *Transport) learnOwner(ctx context.Context, k Key, req *http.Request, resp *http.Response) {
	if !t.routesResources() || req.Method != http.MethodPost || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	if !strings.HasSuffix(p, "/files") && !strings.HasSuffix(p, "/cachedContents") {
		return
	}
	var names []string
	if u, err := url.Parse(resp.Header.Get("X-Goog-Upload-Url")); err == nil {
		if id := u.Query().Get("upload_id"); id != "" && len(id) <= 512 {
			names = append(names, "uploads/"+id)
		}
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		data, err := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit+1))
		rest := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), rest), rest}
		if err == nil && len(data) <= errorBodyLimit {
			names = append(names, createdNames(data)...)
		}
	}
	if len(names) == 0 {
		return
	}
	now := t.ring.now()
	err := t.ring.update(ctx, func(st *state.State) error {
		st.SetOwners(names, k.Project, now)
		return nil
	})
	if err != nil {
		t.logger.Warn("jongler: could not record who created a resource", "connector", t.connector.Name, "err", err)
		return
	}
	t.logger.Debug("jongler: resource created", "connector", t.connector.Name, "project", k.Project, "resources", names)
}

// createdNames returns the resource names of a creation answer:
// {"name": "cachedContents/…"}, {"file": {"name": "files/…"}} or
// {"name": "files/…"}.
func createdNames(data []byte) []string {
	var v struct {
		Name string `json:"name"`
		File struct {
			Name string `json:"name"`
		} `json:"file"`
	}
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	var out []string
	for _, n := range []string{v.Name, v.File.Name} {
		if m := resourceName.FindString(n); m != "" && m == n {
			out = append(out, n)
		}
	}
	return out
}
