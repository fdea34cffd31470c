package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/api-jongler/jongler"
)

// doRequest sends one request, as the original's CLI did.
func (a *app) doRequest(ctx context.Context, connector, method, endpoint, bodyArg string) error {
	c, err := lookupConnector(connector)
	if err != nil {
		return err
	}
	method, err = checkMethod(method)
	if err != nil {
		return err
	}
	if strings.Contains(endpoint, "://") {
		return usageErrorf("ENDPOINT is a path on %s, such as /v1beta/models/gemini-2.5-flash:generateContent; got the URL %q", c.Name, endpoint)
	}
	if !strings.HasPrefix(endpoint, "/") {
		endpoint = "/" + endpoint
	}
	body, err := a.readBody(bodyArg)
	if err != nil {
		return err
	}
	hdr, host, err := parseHeaders(a.headers)
	if err != nil {
		return err
	}
	if a.timeout < 0 {
		return usageErrorf("--timeout %s: want a positive duration, or 0 for none", a.timeout)
	}
	keys, budgets, err := a.keysFor(c)
	if err != nil {
		return err
	}

	opts := []jongler.Option{jongler.WithLogger(a.logger)}
	if c.RequiresAPIKey { // a keyless connector (httpbin.org) takes none
		opts = append(opts, jongler.WithKeys(keys...), jongler.WithBudgets(budgets...))
	}
	egressOpts, err := a.egressOptions(c)
	if err != nil {
		return err
	}
	opts = append(opts, egressOpts...)
	if a.tor != "" {
		opts = append(opts, jongler.WithTor(a.tor))
	}
	base := a.baseURL
	if base == "" {
		if base, err = a.fileBaseURL(c); err != nil {
			return err
		}
	}
	if base != "" {
		opts = append(opts, jongler.WithBaseURL(base))
	}
	storeOpts, closeStore, err := a.storeOptions()
	if err != nil {
		return err
	}
	defer closeStore()
	opts = append(opts, storeOpts...)
	t, err := jongler.NewTransport(c.Name, opts...)
	if err != nil {
		return configError(err)
	}
	defer t.Close() // before closeStore: it waits for a key kept after a given-up request
	u, err := url.Parse(strings.TrimSuffix(t.BaseURL(), "/") + endpoint)
	if err != nil {
		return usageErrorf("ENDPOINT %q: %v", endpoint, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	ctx = withStoreWatch(ctx) // request_store.go
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, a.timeout, errTimeout{a.timeout})
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return usageErrorf("%s %s: %v", method, endpoint, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "apijongler/"+versionString())
	for name, vals := range hdr {
		req.Header[name] = vals // -H replaces the defaults
	}
	if host != "" {
		req.Host = host
	}
	client := &http.Client{
		Transport: t,
		// 3xx answers are shown as they are, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return requestError(ctx, err)
	}
	defer resp.Body.Close()

	if a.include {
		a.writeHead(resp, c)
	} else {
		fmt.Fprintf(a.stderr, "%s %s\n", resp.Proto, resp.Status)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			fmt.Fprintf(a.stderr, "Location: %s\n", loc)
		}
	}
	if err := a.writeBody(resp); err != nil {
		if ctx.Err() != nil {
			return requestError(ctx, err)
		}
		return &exitError{code: exitNoAnswer, err: fmt.Errorf("answer cut short: %w", err)}
	}
	if resp.StatusCode >= 400 {
		return &exitError{code: exitHTTPError}
	}
	return nil
}

// errTimeout is the cause of a request's end at --timeout.
type errTimeout struct{ d time.Duration }

func (e errTimeout) Error() string { return fmt.Sprintf("no answer within --timeout %s", e.d) }

// parseHeaders reads -H values, "Name: value". A Host header sets the
// request's host.
func parseHeaders(hs []string) (http.Header, string, error) {
	out := http.Header{}
	host := ""
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || !httpguts.ValidHeaderFieldName(name) {
			return nil, "", usageErrorf("-H %s: want 'Name: value'", quoteHeader(h))
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, "", usageErrorf("-H %s: the value holds a character a header cannot", quoteHeader(h))
		}
		if http.CanonicalHeaderKey(name) == "Host" {
			host = value
			continue
		}
		out.Add(name, value)
	}
	return out, host, nil
}

// quoteHeader quotes a -H argument for an error, without its value, which
// may be a credential.
func quoteHeader(h string) string {
	name, _, ok := strings.Cut(h, ":")
	if !ok {
		if len(h) > 20 {
			return "(not shown: it may hold a credential)"
		}
		return strconv.Quote(h)
	}
	return strconv.Quote(strings.TrimSpace(name) + ": …")
}

// credentialHeaders are the headers whose values -i never shows.
var credentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
	"X-Api-Key", "Api-Key", "X-Goog-Api-Key",
}

// writeHead prints the status line and headers, sorted, as curl -i does,
// with credentials (and the connector's key header) redacted.
func (a *app) writeHead(resp *http.Response, c jongler.Connector) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", resp.Proto, resp.Status)
	for _, name := range slices.Sorted(maps.Keys(resp.Header)) {
		secret := slices.ContainsFunc(credentialHeaders, func(h string) bool { return strings.EqualFold(h, name) }) ||
			c.APIKeyHeader != "" && strings.EqualFold(c.APIKeyHeader, name)
		for _, v := range resp.Header[name] {
			if secret {
				v = redacted
			}
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	b.WriteString("\n")
	io.WriteString(a.stdout, b.String())
}

// requestError turns the error of a request that got no answer into its
// exit code and a message a person can act on.
func requestError(ctx context.Context, err error) error {
	var et errTimeout
	if errors.As(context.Cause(ctx), &et) {
		return &exitError{code: exitNoAnswer, err: et}
	}
	var nk *jongler.NoKeyError
	if errors.As(err, &nk) {
		msg := message(nk)
		if nk.RetryAfter > 0 {
			msg += fmt.Sprintf(" (at %s)", time.Now().Add(nk.RetryAfter).Format("15:04:05"))
		}
		return &exitError{code: exitNoKey, err: fmt.Errorf("%s\nSee the keys with: apijongler status %s", msg, nk.Connector)}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: exitNoAnswer, err: errors.New("interrupted")}
	}
	if se := storeFailed(ctx, err); se != nil {
		return se
	}
	return &exitError{code: exitNoAnswer, err: fmt.Errorf("no answer: %w", err)}
}

// writeBody copies the answer to stdout as it comes; with --pretty a JSON
// answer is indented, and so is each JSON event of a stream of
// server-sent events, as it comes.
func (a *app) writeBody(resp *http.Response) error {
	r := resp.Body
	if !a.pretty {
		_, err := io.Copy(a.stdout, r)
		return err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		return prettySSE(a.stdout, r)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		a.stdout.Write(data)
		return err
	}
	var buf bytes.Buffer
	if json.Indent(&buf, bytes.TrimSpace(data), "", "  ") != nil {
		_, err = a.stdout.Write(data) // not JSON: as it came
		return err
	}
	buf.WriteByte('\n')
	_, err = a.stdout.Write(buf.Bytes())
	return err
}

// prettySSE copies a stream of server-sent events line by line, each
// "data:" line whose payload is JSON indented, every line written as soon
// as it is read.
func prettySSE(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if werr := writeSSELine(w, line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func writeSSELine(w io.Writer, line []byte) error {
	text := bytes.TrimRight(line, "\r\n")
	payload, ok := bytes.CutPrefix(text, []byte("data:"))
	if ok {
		payload = bytes.TrimPrefix(payload, []byte(" "))
		var buf bytes.Buffer
		if len(payload) > 0 && json.Indent(&buf, payload, "", "  ") == nil {
			buf.WriteByte('\n')
			_, err := w.Write(append([]byte("data: "), buf.Bytes()...))
			return err
		}
	}
	if len(text) < len(line) { // one "\n" for "\r\n" too
		text = append(text[:len(text):len(text)], '\n')
	}
	_, err := w.Write(text)
	return err
}

// checkMethod returns the method in upper case, or a usage error.
func checkMethod(m string) (string, error) {
	if m == "" || strings.IndexFunc(m, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) >= 0 {
		return "", usageErrorf("METHOD %q: want an HTTP method such as GET or POST", m)
	}
	return strings.ToUpper(m), nil
}

// readBody returns the request body BODY names: the text itself, @FILE,
// or - for standard input; nil when there is none. A body that is not
// JSON is refused, with the place of the mistake.
func (a *app) readBody(arg string) ([]byte, error) {
	var (
		data []byte
		what = "BODY"
		err  error
	)
	switch {
	case arg == "":
		return nil, nil
	case arg == "-" || arg == "@-": // curl's @- too
		what = "standard input"
		if data, err = io.ReadAll(a.stdin); err != nil {
			return nil, configError(fmt.Errorf("read BODY from standard input: %w", err))
		}
	case strings.HasPrefix(arg, "@"):
		path := arg[1:]
		if path == "" {
			return nil, usageErrorf("BODY @FILE needs a file name after @")
		}
		what = "BODY file " + path
		if data, err = os.ReadFile(path); err != nil {
			return nil, configError(fmt.Errorf("read BODY: %w", err))
		}
	default:
		data = []byte(arg)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err := checkJSON(data); err != nil {
		return nil, configError(fmt.Errorf("%s is not valid JSON%w", what, err))
	}
	return data, nil
}

// checkJSON reports where data stops being JSON: " at line L, column C
// (byte B): why", then the line itself with a caret under the mistake.
func checkJSON(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf(": %w", err)
	}
	// Offset counts the bytes read, the faulty one included.
	off := int(se.Offset) - 1
	if strings.HasPrefix(se.Error(), "unexpected end") {
		off = len(bytes.TrimRight(data, " \t\r\n")) // cut short: point after the end
	}
	off = max(0, min(off, len(data)))
	lineStart := bytes.LastIndexByte(data[:off], '\n') + 1
	lineEnd := len(data)
	if i := bytes.IndexByte(data[lineStart:], '\n'); i >= 0 {
		lineEnd = lineStart + i
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := 1 + utf8.RuneCount(data[lineStart:off])
	text, caret := excerpt(string(data[lineStart:lineEnd]), col-1)
	return fmt.Errorf(" at line %d, column %d (byte %d): %w\n  %s\n  %s^", line, col, off, se, text, strings.Repeat(" ", caret))
}

// excerpt returns at most 72 runes of line around rune index at, and where
// at falls in them.
func excerpt(line string, at int) (string, int) {
	line = strings.TrimRight(line, "\r")
	r := []rune(strings.ReplaceAll(line, "\t", " "))
	const width = 72
	start := 0
	if len(r) > width && at > width/2 {
		start = min(at-width/2, len(r)-width)
	}
	end := min(len(r), start+width)
	s := string(r[start:end])
	if start > 0 {
		s = "…" + s
		at++
	}
	if end < len(r) {
		s += "…"
	}
	return s, at - start
}
