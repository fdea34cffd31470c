package jongler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
)

// redactSecrets are the key values the redaction tests lease: one shaped
// like a Gemini key, one made of characters a URL escapes (so that its
// escaped forms differ from it), with a space that a query writes "+".
var redactSecrets = []string{"AIzaREDIRECT-0123456789abcdefXYZ", "tok+/=?&%#\u00e9 xyz-Secret9"}

// showsSecret reports whether s holds secret raw or in any escaping, nested
// up to three times: query escaping ("+" for space), path escaping, any
// case of hex digits.
func showsSecret(s, secret string) bool {
	forms := []string{s}
	for range 3 {
		var next []string
		for _, f := range forms {
			if strings.Contains(f, secret) {
				return true
			}
			next = append(next, lenientUnescape(f, true), lenientUnescape(f, false))
		}
		forms = next
	}
	for _, f := range forms {
		if strings.Contains(f, secret) {
			return true
		}
	}
	return false
}

// lenientUnescape decodes every valid %XX in s (and "+" as space when
// query is set), leaving anything else as it is.
func lenientUnescape(s string, query bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case s[i] == '+' && query:
			b.WriteByte(' ')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// lowerHex writes the hex digits of every %XX in s in lower case.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			b[i+1], b[i+2] = bytes.ToLower(b[i+1 : i+2])[0], bytes.ToLower(b[i+2 : i+3])[0]
		}
	}
	return string(b)
}

// recorder is a host that is not the connector's: it records everything
// each request carried.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // request line and headers, one string per request
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.RequestURI)
		r.Header.Write(&b)
		rec.mu.Lock()
		rec.seen = append(rec.seen, b.String())
		rec.mu.Unlock()
		w.Write([]byte("foreign"))
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// TestRedirectsNeverHandBackTheKey: an upstream that redirects keeping the
// query string (or, with the key in a header, writing the credential it
// got into the URL) handed the leased key back to the caller in Location,
// resp.Request.URL and the client's errors, and on to foreign hosts in the
// URL, nested in another parameter, or in the Referer. With the key in
// each slot, against redirects to the same host, to a foreign one, in a
// loop, nested (escaped in upper case, lower case, twice, in a path), and
// to an address that cannot be dialled, nothing the caller gets and
// nothing a foreign host gets shows the key; the caller's placeholder
// stands where the key stood; the connector's own host gets the real key
// again on every hop.
func TestRedirectsNeverHandBackTheKey(t *testing.T) {
	foreign := newRecorder(t)
	var ownURL string
	own := newUpstream(t, func(w http.ResponseWriter, r *http.Request, cred string) {
		q := "alt=sse&key=" + url.QueryEscape(cred) + "&x=1"
		self := ownURL + "/final?" + q
		switch r.URL.Path {
		case "/self":
			http.Redirect(w, r, "/final?"+q, http.StatusFound)
		case "/final":
			h := w.Header()
			h.Set("Content-Location", "/final?"+q)
			h.Set("Link", "<"+self+">; rel=canonical")
			h.Set("Refresh", "0; url="+self)
			h.Set("X-Echo-"+url.PathEscape(cred), cred)
			h.Add("Set-Cookie", "s="+url.QueryEscape(cred)+"; Path=/")
			h.Set("Trailer", "X-Checksum")
			w.Write([]byte("final"))
			h.Set("X-Checksum", self)
		case "/foreign":
			http.Redirect(w, r, foreign.URL+"/x?"+q, http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop?"+q, http.StatusFound)
		case "/nested":
			http.Redirect(w, r, foreign.URL+"/login?continue="+url.QueryEscape(self), http.StatusFound)
		case "/nested-lower":
			http.Redirect(w, r, foreign.URL+"/login?continue="+lowerHex(url.QueryEscape(self)), http.StatusFound)
		case "/nested-twice":
			http.Redirect(w, r, foreign.URL+"/login?continue="+url.QueryEscape(url.QueryEscape(self)), http.StatusFound)
		case "/nested-path":
			http.Redirect(w, r, foreign.URL+"/go/"+url.PathEscape(self), http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/b?"+q, http.StatusFound)
		case "/b":
			http.Redirect(w, r, foreign.URL+"/x", http.StatusFound)
		case "/dead":
			http.Redirect(w, r, "http://127.0.0.1:1/x?"+q, http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})
	ownURL = own.URL

	paths := []struct {
		path    string
		foreign bool // the redirects end on the foreign host
		fails   bool // the client returns an error
	}{
		{"/self", false, false}, {"/foreign", true, false}, {"/loop", false, true},
		{"/nested", true, false}, {"/nested-lower", true, false}, {"/nested-twice", true, false}, {"/nested-path", true, false},
		{"/hop", true, false}, {"/dead", false, true},
	}
	slots := []struct {
		name string
		set  func(r *http.Request)
	}{
		{"header", func(r *http.Request) { r.Header.Set("x-goog-api-key", "placeholder") }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer placeholder") }},
		{"query", func(r *http.Request) { r.URL.RawQuery = "key=placeholder" }},
	}
	for si, secret := range redactSecrets {
		for _, slot := range slots {
			for _, p := range paths {
				t.Run(fmt.Sprintf("key%d/%s%s", si, slot.name, p.path), func(t *testing.T) {
					var logs syncBuffer
					tr := newTransport(t, own, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}),
						jongler.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
					before, ownBefore := len(foreign.requests()), len(own.requests())
					var got []string
					check := func(what, s string) {
						got = append(got, what+": "+s)
						if showsSecret(s, secret) {
							t.Errorf("%s shows the key: %s", what, s)
						}
					}

					// Following the redirects.
					req, _ := http.NewRequest(http.MethodGet, own.URL+p.path, nil)
					slot.set(req)
					resp, err := (&http.Client{Transport: tr}).Do(req)
					if (err != nil) != p.fails {
						t.Fatalf("err = %v, want an error: %v", err, p.fails)
					}
					if err != nil {
						check("error", err.Error())
						check("error %+v", fmt.Sprintf("%+v", err))
						var ue *url.Error
						if errors.As(err, &ue) {
							check("url.Error.URL", ue.URL)
						}
					} else {
						body := readBody(t, resp)
						check("body", body)
						checkResponse(check, resp)
						if want := map[bool]string{true: "foreign", false: "final"}[p.foreign]; body != want {
							t.Errorf("body %q, want %q", body, want)
						}
					}

					// Not following them: the caller sees the 3xx itself.
					req, _ = http.NewRequest(http.MethodGet, own.URL+p.path, nil)
					slot.set(req)
					noFollow := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
					resp, err = noFollow.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					check("3xx body", readBody(t, resp))
					checkResponse(check, resp)
					if loc := resp.Header.Get("Location"); loc != "" && p.path != "/b" && !strings.Contains(loc, "placeholder") {
						t.Errorf("Location %q does not carry the caller's placeholder", loc)
					}

					for _, f := range foreign.requests()[before:] {
						check("foreign request", f)
					}
					if p.foreign && len(foreign.requests()) == before {
						t.Error("the foreign host saw no request")
					}
					if p.path == "/hop" {
						// The client builds the Referer from the URL of the
						// same-host hop, which held the key before.
						referer := false
						for _, f := range foreign.requests()[before:] {
							referer = referer || strings.Contains(f, "Referer: "+own.URL+"/b?") && strings.Contains(f, "key=placeholder")
						}
						if !referer {
							t.Errorf("the foreign host got no Referer naming the hop: %q", foreign.requests()[before:])
						}
					}
					for _, o := range own.requests()[ownBefore:] {
						if o.key != secret {
							t.Errorf("own host got credential %q, want the key", o.key)
						}
					}
					check("logs", logs.String())
					if t.Failed() {
						t.Logf("what the caller and the foreign host got:\n%s", strings.Join(got, "\n"))
					}
				})
			}
		}
	}
}

// checkResponse checks every header, trailer and the request of resp.
func checkResponse(check func(what, s string), resp *http.Response) {
	for _, h := range []http.Header{resp.Header, resp.Trailer} {
		var b strings.Builder
		h.Write(&b)
		check("headers", b.String())
	}
	if resp.Request != nil {
		check("resp.Request.URL", resp.Request.URL.String())
		var b strings.Builder
		resp.Request.Header.Write(&b)
		check("resp.Request.Header", b.String())
	}
}

// errWithURL is a typed error a base transport might return, quoting the
// URL in a field; it cannot be copied with the key taken out.
type errWithURL struct{ URL string }

func (e *errWithURL) Error() string { return "custom failure for " + e.URL }

var errBaseDown = errors.New("base is down")

// TestBaseTransportErrorsRedacted: errors from a base transport that
// quote the URL or headers (go-retryablehttp's RoundTripper: "GET
// http://...?key=... giving up after 1 attempt(s)") were returned, and
// logged at Debug, with the key. Now the text of the error, of every error
// in its chain, and of any log line is redacted, while errors.Is and
// errors.As still find what the chain holds (a *url.Error as a redacted
// copy; a typed error whose text shows the key is not handed out).
func TestBaseTransportErrorsRedacted(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.WriteHeader(500) })
	retrying := retryablehttp.NewClient()
	retrying.RetryMax = 0
	retrying.Logger = nil
	bases := map[string]http.RoundTripper{
		"retryablehttp": &retryablehttp.RoundTripper{Client: retrying},
		"quoting": roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("send %s %s %v: %w", r.Method, r.URL, r.Header, errBaseDown)
		}),
		"url.Error": roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, &url.Error{Op: "Post", URL: r.URL.String(), Err: &net.OpError{Op: "dial", Net: "tcp", Err: errBaseDown}}
		}),
		"typed": roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("wrapped: %w", &errWithURL{URL: r.URL.String() + " " + r.Header.Get("Authorization") + r.Header.Get("X-Goog-Api-Key")})
		}),
		"joined": roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, errors.Join(errBaseDown, fmt.Errorf("url %s", r.URL), context.DeadlineExceeded)
		}),
	}
	slots := map[string]func(r *http.Request){
		"header": func(r *http.Request) { r.Header.Set("x-goog-api-key", "placeholder") },
		"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer placeholder") },
		"query":  func(r *http.Request) { r.URL.RawQuery = "key=placeholder" },
	}
	for _, secret := range redactSecrets {
		for bname, base := range bases {
			for sname, set := range slots {
				t.Run(bname+"/"+sname, func(t *testing.T) {
					var logs syncBuffer
					tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}), jongler.WithBaseTransport(base),
						jongler.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
						jongler.WithMaxRetries(1), jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond }))
					req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
					set(req)
					_, err := tr.RoundTrip(req)
					if err == nil {
						t.Fatal("no error")
					}
					var texts []string
					for e := range chain(err) {
						texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
					}
					var ue *url.Error
					if errors.As(err, &ue) {
						texts = append(texts, ue.URL, ue.Err.Error())
					}
					var typed *errWithURL
					if errors.As(err, &typed) {
						texts = append(texts, typed.URL)
					}
					texts = append(texts, logs.String())
					for _, s := range texts {
						if showsSecret(s, secret) {
							t.Errorf("shows the key: %s", s)
						}
					}
					if !strings.Contains(logs.String(), "trying again") {
						t.Errorf("no retry logged: %s", logs.String())
					}
					switch bname {
					case "quoting", "joined":
						if !errors.Is(err, errBaseDown) {
							t.Errorf("errors.Is(err, errBaseDown) = false for %v", err)
						}
						if bname == "joined" && !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("errors.Is(err, DeadlineExceeded) = false for %v", err)
						}
						if !strings.Contains(err.Error(), "placeholder") && sname == "query" {
							t.Errorf("the placeholder does not stand where the key stood: %v", err)
						}
					case "url.Error":
						var op *net.OpError
						if ue == nil || !errors.As(err, &op) || !errors.Is(err, errBaseDown) {
							t.Errorf("errors.As/Is lost the chain: url.Error %v, OpError %v, in %v", ue, op, err)
						}
						var timeout interface{ Timeout() bool }
						if !errors.As(err, &timeout) {
							t.Errorf("errors.As to an interface found nothing in %v", err)
						}
					}
				})
			}
		}
	}
}

// chain walks every error in err's tree.
func chain(err error) func(yield func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(e error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch x := e.(type) {
			case interface{ Unwrap() error }:
				return walk(x.Unwrap())
			case interface{ Unwrap() []error }:
				for _, c := range x.Unwrap() {
					if !walk(c) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

// TestErrorAnswersRedacted: an error answer that echoes the key (in its
// body, a header, or the reason a policy draws from it) is handed back,
// logged and recorded in the key's state without the key, its
// Content-Length matching the body.
func TestErrorAnswersRedacted(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.Header().Set("X-Debug-Url", r.URL.String())
		w.WriteHeader(429)
		fmt.Fprintf(w, `{"error":{"code":429,"message":"key %s (%s) is over quota"}}`, key, url.QueryEscape(key))
	})
	echoReason := jongler.PolicyFunc(func(a *jongler.Answer) jongler.Verdict {
		return jongler.Verdict{Action: jongler.ActionLockdown, Until: a.Now.Add(time.Hour), Reason: string(a.Body) + a.Header.Get("X-Debug-Url"),
			Model: "models/" + string(a.Body)}
	})
	for _, secret := range redactSecrets {
		var logs syncBuffer
		dir := t.TempDir()
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}), jongler.WithStateDir(dir), jongler.WithPolicy(echoReason),
			jongler.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		req, _ := http.NewRequest(http.MethodPost, u.URL+genPath+"?key=placeholder", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		var h strings.Builder
		resp.Header.Write(&h)
		ks, err := tr.KeyStates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		texts := []string{body, h.String(), logs.String(), fmt.Sprintf("%+v", ks)}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if data, err := os.ReadFile(p); err == nil {
				texts = append(texts, p+": "+string(data))
			}
			return nil
		})
		for _, s := range texts {
			if showsSecret(s, secret) {
				t.Errorf("shows the key: %s", s)
			}
		}
		if !strings.Contains(body, "placeholder") || int64(len(body)) != resp.ContentLength || resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
			t.Errorf("body %q (%d bytes), ContentLength %d, Content-Length %q", body, len(body), resp.ContentLength, resp.Header.Get("Content-Length"))
		}
		if len(ks.Lockdown) != 1 {
			t.Errorf("states %+v, want the key locked down", ks)
		}
	}
}

// TestForeignRequestScrubbed: a request for another host that carries a
// key's value anywhere (a URL the caller took from an old answer, a
// Referer) goes out without it.
func TestForeignRequestScrubbed(t *testing.T) {
	foreign := newRecorder(t)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	for _, secret := range redactSecrets {
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}, jongler.Key{Name: "other", Value: "other-value-123456"}))
		own := u.URL + "/b?key=" + url.QueryEscape(secret)
		req, _ := http.NewRequest(http.MethodGet, foreign.URL+"/x?next="+url.QueryEscape(own)+"&k2="+url.PathEscape(secret), nil)
		req.Header.Set("Referer", own)
		req.Header.Set("X-Note", "token "+secret)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		seen := foreign.requests()
		if showsSecret(seen[len(seen)-1], secret) {
			t.Errorf("foreign host got the key: %s", seen[len(seen)-1])
		}
	}
}

// TestCompatErrorsRedacted: compat.Jongler's Request returned the client's
// errors ("stopped after 10 redirects", a dial error on a redirect target)
// with the key in the URL, and RequestJSON's *HTTPError quoted an error
// body that echoed it.
func TestCompatErrorsRedacted(t *testing.T) {
	for _, secret := range redactSecrets {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			q := "key=" + url.QueryEscape(key)
			switch r.URL.Path {
			case "/loop":
				http.Redirect(w, r, "/loop?"+q, http.StatusFound)
			case "/dead":
				http.Redirect(w, r, "http://127.0.0.1:1/x?"+q, http.StatusFound)
			default:
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"code":400,"message":"bad key %s"}}`, key)
			}
		})
		j, err := compat.New(gem, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}), jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(u.URL))
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		for _, ep := range []string{"/loop?key=placeholder", "/dead?key=placeholder", "/loop", "/dead"} {
			_, _, err := j.Request(context.Background(), http.MethodGet, ep, "")
			if err == nil || showsSecret(err.Error(), secret) {
				t.Errorf("Request(%s): %v", ep, err)
			}
		}
		_, err = j.RequestJSON(context.Background(), "/v1beta/models/m:generateContent", map[string]any{})
		if err == nil || showsSecret(err.Error(), secret) {
			t.Errorf("RequestJSON: %v", err)
		}
	}
}

// TestStatusLineRedacted: the reason phrase of the status line is the
// upstream's to write ("HTTP/1.1 200 OK <anything>"), and was handed back
// as written.
func TestStatusLineRedacted(t *testing.T) {
	for _, secret := range redactSecrets {
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			key := r.Header.Get("X-Goog-Api-Key")
			return &http.Response{StatusCode: 200, Status: "200 OK for " + key, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		})
		unused := newUpstream(t, func(http.ResponseWriter, *http.Request, string) {})
		tr := newTransport(t, unused, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}), jongler.WithBaseTransport(base), jongler.WithBaseURL("http://127.0.0.1:9"))
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9"+genPath, nil)
		req.Header.Set("x-goog-api-key", "placeholder")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Status != "200 OK for placeholder" {
			t.Errorf("status %q", resp.Status)
		}
	}
}

// TestHTTP2TrailersRedacted: over HTTP/2 an upstream may send trailers it
// never declared; they are redacted once the body has given them.
func TestHTTP2TrailersRedacted(t *testing.T) {
	secret := redactSecrets[1]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("streamed"))
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Echo", "key="+url.QueryEscape(r.URL.Query().Get("key")))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	unused := newUpstream(t, func(http.ResponseWriter, *http.Request, string) {})
	tr := newTransport(t, unused, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}), jongler.WithBaseURL(srv.URL),
		jongler.WithBaseTransport(srv.Client().Transport))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+genPath+"?key=placeholder", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if body := readBody(t, resp); body != "streamed" {
		t.Errorf("body %q", body)
	}
	if got := resp.Trailer.Get("X-Echo"); got != "key=placeholder" {
		t.Errorf("trailer X-Echo = %q, want key=placeholder", got)
	}
}

// TestRedirectAnswerHoldsNoKey: a redirect's body is read into memory to
// be redacted, so the upstream is done with the request when the caller
// gets the 3xx: its key is free at once, even if the caller never reads
// or closes that body.
func TestRedirectAnswerHoldsNoKey(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/final?key="+url.QueryEscape(key)+"&"+strings.Repeat("pad=x&", 1000), http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	})
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: redactSecrets[0]}))
	noFollow := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, u.URL+"/moved?key=placeholder", nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ks, err := tr.KeyStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Locked) != 0 {
		t.Errorf("key still leased while the 3xx body is unread: %+v", ks)
	}
}
