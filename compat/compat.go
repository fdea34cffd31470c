// Package compat keeps the original API Jongler's interface, call for
// call, for programs ported from it: [New] returns a client bound to one
// connector with Request, RequestJSON, KeyStates, VacantKeys, LockdownKeys,
// AvailableKeys, Close and [CleanUp]; [OriginalPolicy] reads answers as the
// original did. New code should use a [jongler.Transport] with its own
// [http.Client] or SDK instead; docs/migrating.md maps each call.
package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/api-jongler/jongler"
)

// Jongler is the original API Jongler's interface: a client bound to one
// connector that sends requests with its keys. It is a thin shell over an
// [http.Client] using a [jongler.Transport].
type Jongler struct {
	t      *jongler.Transport
	client *http.Client
}

// New returns a Jongler for the named connector, configured as
// [jongler.NewTransport] is.
func New(connector string, opts ...jongler.Option) (*Jongler, error) {
	t, err := jongler.NewTransport(connector, opts...)
	if err != nil {
		return nil, err
	}
	return &Jongler{t: t, client: &http.Client{Transport: t}}, nil
}

// Transport returns the Jongler's transport.
func (j *Jongler) Transport() *jongler.Transport { return j.t }

// Request sends body (which may be "") with method to endpoint, a path
// such as "/v1beta/models/gemini-2.5-flash:generateContent" on the
// connector's address, and returns the answer's body and status code. An
// error answer from the upstream is not an error here: its body and status
// are returned. The error is for requests that got no answer, such as
// when no key is available ([jongler.ErrNoKeys]).
func (j *Jongler) Request(ctx context.Context, method, endpoint, body string) (string, int, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp, err := j.do(ctx, method, endpoint, r)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.StatusCode, fmt.Errorf("jongler: %s %s: read answer: %w", method, endpoint, err)
	}
	return string(data), resp.StatusCode, nil
}

// RequestJSON posts data, encoded as JSON, to endpoint and decodes the
// JSON object answered. An answer that is not 2xx is an *[HTTPError].
func (j *Jongler) RequestJSON(ctx context.Context, endpoint string, data any) (map[string]any, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("jongler: encode request: %w", err)
	}
	resp, err := j.do(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("jongler: POST %s: read answer: %w", endpoint, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPError{Method: http.MethodPost, Endpoint: endpoint, StatusCode: resp.StatusCode, Body: raw}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("jongler: POST %s: answer is not a JSON object: %w", endpoint, err)
	}
	return out, nil
}

func (j *Jongler) do(ctx context.Context, method, endpoint string, body io.Reader) (*http.Response, error) {
	if !strings.HasPrefix(endpoint, "/") {
		endpoint = "/" + endpoint
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(j.t.BaseURL(), "/")+endpoint, body)
	if err != nil {
		return nil, fmt.Errorf("jongler: %s %s: %w", method, endpoint, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	return resp, nil
}

// HTTPError is an upstream answer outside 2xx, from [Jongler.RequestJSON].
type HTTPError struct {
	Method     string // the request's method
	Endpoint   string // the request's path
	StatusCode int    // the answer's status code
	Body       []byte // the answer's body
}

// Error gives the request, the status and the start of the body.
func (e *HTTPError) Error() string {
	body := strings.TrimSpace(string(e.Body))
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Sprintf("jongler: %s %s: %d %s: %s", e.Method, e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode), body)
}

// KeyStates returns the states of the connector's keys.
func (j *Jongler) KeyStates(ctx context.Context) (jongler.KeyStates, error) {
	return j.t.KeyStates(ctx)
}

// VacantKeys returns the names of the keys free to use now.
func (j *Jongler) VacantKeys(ctx context.Context) ([]string, error) {
	ks, err := j.t.KeyStates(ctx)
	return ks.Vacant, err
}

// LockdownKeys returns the names of the keys cooling down.
func (j *Jongler) LockdownKeys(ctx context.Context) ([]string, error) {
	ks, err := j.t.KeyStates(ctx)
	return ks.Lockdown, err
}

// AvailableKeys returns the names of every configured key. (The original
// returned names and values; values are not handed out here.)
func (j *Jongler) AvailableKeys() []string { return j.t.KeyNames() }

// Close releases the Jongler's idle connections and its transport's
// files. Leases end with their requests, so nothing is left locked.
func (j *Jongler) Close() error { return j.t.Close() }

// CleanUp clears the lockdown and error records of the named connectors,
// or of every known connector (bundled, and in $APIJONGLER_CONNECTORS) when
// none is named, in the default state directory ($APIJONGLER_STATE_DIR, as
// [jongler.DefaultStateDir] says), as the original's cleanUp did. Leases in
// flight are not touched; they end with their requests. Go programs with a
// store of their own call [jongler.Cleanup].
func CleanUp(connectors ...string) error {
	dir, err := jongler.DefaultStateDir()
	if err != nil {
		return err
	}
	if len(connectors) == 0 {
		all, err := jongler.Connectors(os.Getenv(jongler.ConnectorsDirEnv))
		if err != nil {
			return err
		}
		for name := range all {
			connectors = append(connectors, name)
		}
	}
	store, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	return jongler.Cleanup(context.Background(), store, connectors...)
}

// OriginalPolicy is the original API Jongler's reading: 429, 403, 503 and
// 509 cool the key down for Cooldown (or Retry-After), and nothing else
// counts. It is here for those who want the old behaviour.
type OriginalPolicy struct {
	// Cooldown is used when Retry-After is absent; zero means one minute.
	Cooldown time.Duration
}

// Classify implements [jongler.Policy].
func (p OriginalPolicy) Classify(a *jongler.Answer) jongler.Verdict {
	switch a.Status {
	case http.StatusTooManyRequests, http.StatusForbidden, http.StatusServiceUnavailable, 509:
		// Read as StatusPolicy reads a 429: Retry-After, else Cooldown.
		b := *a
		b.Status = http.StatusTooManyRequests
		v := jongler.StatusPolicy{Cooldown: p.Cooldown}.Classify(&b)
		text := http.StatusText(a.Status)
		if a.Status == 509 {
			text = "Bandwidth Limit Exceeded"
		}
		v.Reason = fmt.Sprintf("%d %s", a.Status, text)
		return v
	}
	return jongler.Verdict{Action: jongler.ActionAccept}
}

// unwrapURLError drops the *url.Error an http.Client wraps around a
// transport's error, whose text repeats the URL, when the inner error is
// jongler's own.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var nk *jongler.NoKeyError
		if errors.As(ue.Err, &nk) {
			return ue.Err
		}
	}
	return err
}
