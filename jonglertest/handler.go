package jonglertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBody is the largest request body read, like Google's 20 MB limit.
const maxBody = 20 << 20

// request is what the handler extracted from an HTTP request before any
// check.
type request struct {
	model   string     // model name without "models/"
	stream  bool       // streamed answer
	sse     bool       // stream as server-sent events rather than a JSON array
	openai  bool       // OpenAI-compatible endpoint
	array   bool       // wrap error bodies in a JSON array
	prompt  string     // text of the last message
	bad     *errorBody // 400 answer for a malformed body, if any
	version string     // API version in the path, for the 404 message
	method  string     // API method, for the 404 message
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, v := range []string{"v1beta", "v1"} {
		mux.HandleFunc("POST /"+v+"/models/{action}", func(w http.ResponseWriter, r *http.Request) {
			s.serveNative(w, r, v)
		})
	}
	mux.HandleFunc("POST /v1beta/openai/chat/completions", s.serveOpenAI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.notFound(w, r)
	})
	return mux
}

// notFound answers a request for an unknown API method.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	key, ncred := credential(r)
	t := &tracker{outcome: outcomeFailed, client: r.RemoteAddr}
	s.arrive(t, key, ncred)
	s.finish(t)
	writeJSON(w, http.StatusNotFound, plainError(404, "NOT_FOUND", "Method not found."), false)
}

func (s *Server) serveNative(w http.ResponseWriter, r *http.Request, version string) {
	model, method, ok := strings.Cut(r.PathValue("action"), ":")
	rq := &request{model: model, version: version, method: method}
	switch {
	case ok && method == "generateContent":
	case ok && method == "streamGenerateContent":
		rq.stream = true
		rq.sse = r.URL.Query().Get("alt") == "sse"
		rq.array = !rq.sse
	default:
		s.notFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		rq.bad = ptr(badRequestError("Request payload size exceeds the limit: 20971520 bytes."))
	} else {
		rq.prompt, rq.bad = parseGenerate(body)
	}
	s.serve(w, r, rq)
}

// knownField reports whether name is a top-level field of a
// GenerateContentRequest, in the JSON (camelCase) or proto (snake_case)
// spelling, both of which Google accepts.
func knownField(name string) bool {
	switch name {
	case "contents", "model",
		"systemInstruction", "system_instruction",
		"tools", "toolConfig", "tool_config",
		"safetySettings", "safety_settings",
		"generationConfig", "generation_config",
		"cachedContent", "cached_content",
		"labels", "serviceTier", "service_tier", "store":
		return true
	}
	return false
}

// parseGenerate checks a GenerateContentRequest and returns the text of its
// last content, or the 400 answer it deserves.
func parseGenerate(body []byte) (string, *errorBody) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil && len(bytes.TrimSpace(body)) > 0 {
		return "", ptr(badRequestError("Invalid JSON payload received. Unexpected token."))
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !knownField(name) {
			return "", ptr(badRequestError(fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", name)))
		}
	}
	var contents []struct {
		Parts []struct {
			Text string `json:"text"`
		} `json:"parts"`
	}
	if raw, ok := fields["contents"]; ok {
		if err := json.Unmarshal(raw, &contents); err != nil {
			return "", ptr(badRequestError("Invalid JSON payload received. Unknown name \"contents\": Proto field is not repeating, cannot start list."))
		}
	}
	if len(contents) == 0 {
		return "", ptr(plainError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n"))
	}
	var texts []string
	for _, p := range contents[len(contents)-1].Parts {
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, ""), nil
}

func (s *Server) serveOpenAI(w http.ResponseWriter, r *http.Request) {
	rq := &request{openai: true, array: true, version: "v1main", method: "generateContent"}
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	switch {
	case err != nil:
		rq.bad = ptr(badRequestError("Request payload size exceeds the limit: 20971520 bytes."))
	case json.Unmarshal(body, &req) != nil:
		rq.bad = ptr(badRequestError("Invalid JSON payload received. Unexpected token."))
	case len(req.Messages) == 0:
		rq.bad = ptr(plainError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n"))
	default:
		rq.model = strings.TrimPrefix(req.Model, "models/")
		rq.stream, rq.sse = req.Stream, req.Stream
		rq.prompt = messageText(req.Messages[len(req.Messages)-1].Content)
	}
	s.serve(w, r, rq)
}

// messageText returns the text of an OpenAI message content: a string or a
// list of parts.
func messageText(raw json.RawMessage) string {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var texts []string
	for _, p := range parts {
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "")
}

// credential returns the API key of r and how many credentials r carries.
// An Authorization header of another scheme counts as a bad credential.
func credential(r *http.Request) (key string, n int) {
	for _, v := range r.Header.Values("x-goog-api-key") {
		if v != "" {
			key, n = v, n+1
		}
	}
	for _, v := range r.URL.Query()["key"] {
		if v != "" {
			key, n = v, n+1
		}
	}
	for _, v := range r.Header.Values("Authorization") {
		if v == "" {
			continue
		}
		scheme, token, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			key, n = strings.TrimSpace(token), n+1
		} else {
			key, n = "", n+1
		}
	}
	return key, n
}

// tracker follows one request for the counters.
type tracker struct {
	key     *keyState // the configured key of the request, if any
	model   string    // the configured model of the request, if any
	window  *Window   // the window the request was admitted in, if it was
	outcome outcome   // how the request ended; 0 counts as canceled

	client   string // the request's RemoteAddr, for the overlap log
	finished bool   // counted by finish
}

// arrive counts the arrival of the request t follows, with the API key value,
// given ncred credentials, for model t.model ("" if not configured). It sets
// t.key to the configured key of the request, if any, and returns its state.
func (s *Server) arrive(t *tracker, value string, ncred int) (leaked, invalid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ncred == 1 {
		t.key = s.keys[value]
	}
	s.count(t)
	if ks := t.key; ks != nil {
		leaked, invalid = ks.leaked, ks.invalid
	}
	return leaked, invalid
}

// count counts the arrival of the request t follows. s.mu must be held.
func (s *Server) count(t *tracker) {
	ks, model := t.key, t.model
	s.stats.total.Requests++
	if model != "" {
		s.stats.models[model].Requests++
	}
	if ks != nil {
		st := ks.stats
		st.Requests++
		if st.InFlight > 0 {
			st.Overlaps++
			s.stats.overlaps++
			if len(s.stats.overlapLog) < MaxOverlapLog {
				o := Overlap{Key: ks.label, Arrived: time.Now(), Client: t.client}
				for other := range ks.inFlight {
					o.Others = append(o.Others, other.client)
				}
				slices.Sort(o.Others)
				s.stats.overlapLog = append(s.stats.overlapLog, o)
			}
		}
		ks.inFlight[t] = struct{}{}
		st.InFlight++
		st.MaxInFlight = max(st.MaxInFlight, st.InFlight)
		if model != "" {
			c := st.Models[model]
			c.Requests++
			st.Models[model] = c
		}
	}
}

// finish counts the end of the request t follows, with outcome t.outcome
// (0 counts as canceled), once: later calls do nothing. The key of the
// request is no longer in flight after it.
func (s *Server) finish(t *tracker) {
	if t.finished {
		return
	}
	t.finished = true
	if t.outcome == 0 {
		t.outcome = outcomeCanceled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ks := t.key; ks != nil {
		ks.stats.InFlight--
		delete(ks.inFlight, t)
	}
	s.record(t, t.outcome, +1)
}

// amend changes the outcome of a finished request to o.
func (s *Server) amend(t *tracker, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(t, t.outcome, -1)
	t.outcome = o
	s.record(t, o, +1)
}

// record adds delta to the counters of outcome o of the request t follows.
// s.mu must be held.
func (s *Server) record(t *tracker, o outcome, delta int) {
	s.stats.total.add(o, delta)
	if t.model != "" {
		s.stats.models[t.model].add(o, delta)
	}
	if ks := t.key; ks != nil {
		ks.stats.add(o, delta)
		if t.model != "" {
			c := ks.stats.Models[t.model]
			c.add(o, delta)
			ks.stats.Models[t.model] = c
		}
	}
	if t.window != nil && o == outcomeSuccess {
		s.windowCounts(*t.window).Successes += delta
	}
}

func (s *Server) windowCounts(w Window) *WindowCounts {
	c := s.stats.windows[w]
	if c == nil {
		c = &WindowCounts{}
		s.stats.windows[w] = c
	}
	return c
}

// serve checks and answers a parsed request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rq *request) {
	t := &tracker{client: r.RemoteAddr}
	quota, known := s.models[rq.model] // s.models is never written after newServer
	if known {
		t.model = rq.model
	}
	key, ncred := credential(r)
	leaked, invalid := s.arrive(t, key, ncred)
	ks := t.key
	defer s.finish(t)

	// Requests are counted before the client can see their answer; see
	// answer.
	fail := func(code int, body errorBody) {
		t.outcome = outcomeFailed
		if code == http.StatusTooManyRequests {
			t.outcome = outcomeRateLimited
		}
		s.finish(t)
		writeJSON(w, code, body, rq.array)
	}
	switch {
	case ncred == 0:
		fail(http.StatusForbidden, plainError(403, "PERMISSION_DENIED", msgUnregistered))
		return
	case ncred > 1:
		fail(http.StatusBadRequest, plainError(400, "INVALID_ARGUMENT", msgMultipleCreds))
		return
	case ks == nil || invalid:
		fail(http.StatusBadRequest, apiKeyInvalidError())
		return
	case leaked:
		fail(http.StatusForbidden, plainError(403, "PERMISSION_DENIED", msgLeaked))
		return
	case rq.bad != nil:
		fail(http.StatusBadRequest, *rq.bad)
		return
	case !known:
		fail(http.StatusNotFound, modelNotFoundError(rq.version, rq.model, rq.method))
		return
	}

	// The request is eligible for faults, then for the quota check.
	s.mu.Lock()
	strike := s.faults.next()
	var applied FaultKind
	for _, k := range []FaultKind{FaultReset, FaultOverloaded, FaultInternal, FaultRateLimit} {
		if strike.has(k) {
			applied = k
			break
		}
	}
	var ref *refusal
	var win Window
	var used windowUse // the (project, model)'s windows after the check
	var now time.Time
	if applied == 0 {
		now = s.clock.Now()
		pm := projectModel{ks.project, rq.model}
		u := s.usage[pm]
		if u == nil {
			u = &windowUse{}
			s.usage[pm] = u
		}
		ref = u.admit(quota, now, s.la, tokens(rq.prompt))
		used = *u
		win = Window{Project: ks.project, Model: rq.model, Minute: s.window(now)}
		if ref != nil {
			s.windowCounts(win).RateLimited++
		} else {
			t.window = &win
			if strike.has(FaultCut) {
				s.stats.faults[FaultCut]++
			}
		}
	} else {
		s.stats.faults[applied]++
	}
	if strike.has(FaultSlow) {
		s.stats.faults[FaultSlow]++
	}
	s.mu.Unlock()

	var delay time.Duration
	if strike.has(FaultSlow) {
		delay = s.slowBy
	}
	if applied == 0 && ref == nil {
		delay += s.latency
	}
	if !s.pause(r.Context(), delay) {
		return // canceled
	}
	if s.rlHeaders && applied == 0 {
		s.setRateLimitHeaders(w.Header(), quota, used, now)
	}

	switch applied {
	case FaultReset:
		t.outcome = outcomeFailed
		s.finish(t) // before the client can see the reset
		reset(w)
		return
	case FaultOverloaded:
		fail(http.StatusServiceUnavailable, plainError(503, "UNAVAILABLE", msgOverloaded))
		return
	case FaultInternal:
		fail(http.StatusInternalServerError, plainError(500, "INTERNAL", msgInternal))
		return
	case FaultRateLimit:
		fail(http.StatusTooManyRequests, plainError(429, "RESOURCE_EXHAUSTED", msgExhausted))
		return
	}
	if ref != nil {
		fail(http.StatusTooManyRequests, quotaError(rq.model, ref, s.msgOnly))
		return
	}
	s.answer(w, r, rq, t, strike.has(FaultCut))
}

// answer writes a successful answer and records its outcome in t. If cut,
// it hangs up after the first piece of the answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rq *request, t *tracker, cut bool) {
	s.mu.Lock()
	s.responses++
	id := fmt.Sprintf("jonglertest-%d", s.responses)
	s.mu.Unlock()
	text := s.reply(rq.model, rq.prompt)
	n := 1
	if rq.stream {
		n = s.chunks
	}

	// Encode the answer as the pieces to send, each flushed on its own.
	var pieces [][]byte
	if rq.openai {
		created := s.clock.Now().Unix()
		if !rq.stream {
			n = 0
		}
		for _, c := range chatChunks(rq.model, "chatcmpl-"+id, created, rq.prompt, text, n) {
			pieces = append(pieces, marshal(c))
		}
	} else {
		for _, c := range geminiChunks(rq.model, id, rq.prompt, text, n) {
			pieces = append(pieces, marshal(c))
		}
	}
	switch {
	case rq.sse:
		for i, p := range pieces {
			pieces[i] = sseEvent(p)
		}
		if rq.openai {
			pieces = append(pieces, []byte("data: [DONE]\n\n"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
	case rq.stream: // JSON array
		for i, p := range pieces {
			p = bytes.TrimSuffix(p, []byte("\n"))
			switch {
			case len(pieces) == 1:
				p = slices.Concat([]byte("["), p, []byte("]"))
			case i == 0:
				p = slices.Concat([]byte("["), p, []byte("\n,\r\n"))
			case i == len(pieces)-1:
				p = slices.Concat(p, []byte("]"))
			default:
				p = slices.Concat(p, []byte("\n,\r\n"))
			}
			pieces[i] = p
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	default:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	if cut {
		// Send the first piece, or half of a lone piece, then hang up.
		if len(pieces) == 1 {
			pieces[0] = pieces[0][:len(pieces[0])/2]
		} else {
			pieces = pieces[:1]
		}
	}

	// Each piece is flushed at once, so that streamed chunks arrive one by
	// one. The request is counted as a success (and its key leaves flight)
	// before the last piece is written: a client that has the whole answer
	// may send its next request at once, and must find the counters up to
	// date. If the last write fails after all, the outcome is amended.
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	for i, p := range pieces {
		if i > 0 && !s.pause(r.Context(), s.gap) {
			t.outcome = outcomeCanceled
			return
		}
		last := i == len(pieces)-1 && !cut
		if last {
			t.outcome = outcomeSuccess
			s.finish(t)
		}
		_, err := w.Write(p)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			if last {
				s.amend(t, outcomeCanceled)
			}
			t.outcome = outcomeCanceled
			return
		}
	}
	if cut {
		// End the answer mid-way: the client sees its connection close
		// before the end of the body, after the deferred finish has run.
		t.outcome = outcomeFailed
		panic(http.ErrAbortHandler)
	}
}

func sseEvent(p []byte) []byte {
	return slices.Concat([]byte("data: "), bytes.TrimSuffix(p, []byte("\n")), []byte("\n\n"))
}

// reset closes the connection of w without an answer, with a TCP reset if it
// can.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: resets the stream
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// pause waits for d of wall time. It returns false if the client went away or
// the server is closing meanwhile.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// writeJSON writes a JSON error answer, wrapped in an array if array is set.
func writeJSON(w http.ResponseWriter, code int, body errorBody, array bool) {
	b := marshal(body)
	if array {
		b = slices.Concat([]byte("["), bytes.TrimSuffix(b, []byte("\n")), []byte("]\n"))
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func ptr[T any](v T) *T { return &v }
