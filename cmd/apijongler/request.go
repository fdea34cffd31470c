package main

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
	"unicode/utf8"

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
	keys, err := a.keysFor(c)
	if err != nil {
		return err
	}

	opts := []jongler.Option{jongler.WithKeys(keys...), jongler.WithLogger(a.logger)}
	if a.tor != "" {
		opts = append(opts, jongler.WithTor(a.tor))
	}
	t, err := jongler.NewTransport(c.Name, opts...)
	if err != nil {
		return configError(err)
	}
	defer t.CloseIdleConnections()
	u, err := url.Parse(strings.TrimSuffix(t.BaseURL(), "/") + endpoint)
	if err != nil {
		return usageErrorf("ENDPOINT %q: %v", endpoint, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return usageErrorf("%s %s: %v", method, endpoint, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "apijongler/"+versionString())
	client := &http.Client{
		Transport: t,
		// 3xx answers are shown as they are, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return requestError(err)
	}
	defer resp.Body.Close()

	fmt.Fprintf(a.stderr, "%s %s\n", resp.Proto, resp.Status)
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		fmt.Fprintf(a.stderr, "Location: %s\n", loc)
	}
	if err := a.writeBody(resp.Body); err != nil {
		return &exitError{code: exitNoAnswer, err: fmt.Errorf("answer cut short: %w", err)}
	}
	if resp.StatusCode >= 400 {
		return &exitError{code: exitHTTPError}
	}
	return nil
}

// requestError turns the error of a request that got no answer into its
// exit code and a message a person can act on.
func requestError(err error) error {
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
	return &exitError{code: exitNoAnswer, err: fmt.Errorf("no answer: %w", err)}
}

// writeBody copies the answer to stdout, indented with --pretty when it is
// JSON.
func (a *app) writeBody(r io.Reader) error {
	if !a.pretty {
		_, err := io.Copy(a.stdout, r)
		return err
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
	case arg == "-":
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
