package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The JSON shapes of a Google API error (google.rpc.Status). Details of
// every type decode into one struct; which fields count is decided by the
// "@type" of each entry, so their order does not matter. Fields that are
// absent or of an unexpected JSON type are left zero.
type (
	gEnvelope struct {
		Error *gError `json:"error"`
	}
	gError struct {
		Code    json.RawMessage `json:"code"` // a number, or a string on some proxies
		Message string          `json:"message"`
		Status  string          `json:"status"`
		Details []gDetail       `json:"details"`
	}
	gDetail struct {
		Type string `json:"@type"`
		// google.rpc.ErrorInfo
		Reason   string    `json:"reason"`
		Metadata gMetadata `json:"metadata"`
		// google.rpc.QuotaFailure
		Violations []gViolation `json:"violations"`
		// google.rpc.RetryInfo
		RetryDelay json.RawMessage `json:"retryDelay"`
	}
	// gMetadata is the part of ErrorInfo.metadata that a
	// RATE_LIMIT_EXCEEDED reason carries instead of a QuotaFailure.
	gMetadata struct {
		QuotaMetric     string          `json:"quota_metric"`
		QuotaLimit      string          `json:"quota_limit"`
		QuotaLimitValue json.RawMessage `json:"quota_limit_value"`
	}
	gViolation struct {
		QuotaMetric     string          `json:"quotaMetric"`
		QuotaID         string          `json:"quotaId"`
		QuotaDimensions gDimensions     `json:"quotaDimensions"`
		QuotaValue      json.RawMessage `json:"quotaValue"` // int64 as a JSON string, or a number
		Description     string          `json:"description"`
	}
	gDimensions struct {
		Model string `json:"model"`
	}
	// gProtoDuration is the object form of a google.protobuf.Duration,
	// which some encoders emit instead of the "12.5s" string.
	gProtoDuration struct {
		Seconds json.RawMessage `json:"seconds"`
		Nanos   json.RawMessage `json:"nanos"`
	}
)

// Google classifies a refusal from the Gemini API (generativelanguage
// .googleapis.com, native or OpenAI-compatible endpoint) given its HTTP
// status and body. The body may be a google.rpc.Status wrapped as
// {"error":{...}} or, from the OpenAI-compatible endpoint, an array
// [{"error":{...}}]. When the HTTP status is not an error (an error inside
// a 200 stream), the body's "code" stands in for it. A body that is not
// JSON, or holds no error object, is classified from the status alone:
// 5xx is Transient, anything else Unknown.
func Google(status int, body []byte) Answer {
	e := parseGoogle(body)
	if e == nil || e.Message == "" && e.Status == "" && e.Code == nil && len(e.Details) == 0 {
		// No error object, or one that says nothing: {"error":"text"}
		// decodes to an empty one.
		return statusOnly(status)
	}
	st := status
	if st < 400 {
		if c, ok := limitValue(string(e.Code)); ok && c >= 400 && c <= 599 {
			st = int(c)
		}
	}
	g := googleFacts{status: st, code: ident(e.Status), msg: e.Message, lower: lowerASCII(e.Message)}
	g.scanDetails(e.Details)
	return g.decide()
}

// parseGoogle returns the first error object in body, or nil.
func parseGoogle(body []byte) *gError {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil
	}
	var syntax *json.SyntaxError
	switch trimmed[0] {
	case '{':
		var env gEnvelope
		if err := json.Unmarshal(trimmed, &env); errors.As(err, &syntax) {
			return nil
		}
		return env.Error
	case '[':
		var arr []gEnvelope
		if err := json.Unmarshal(trimmed, &arr); errors.As(err, &syntax) {
			return nil
		}
		for _, env := range arr {
			if env.Error != nil {
				return env.Error
			}
		}
	}
	return nil
}

// statusOnly classifies an answer whose body says nothing usable.
func statusOnly(status int) Answer {
	if status >= 500 && status <= 599 {
		return Answer{Kind: Transient, Reason: "server error, HTTP " + strconv.Itoa(status)}
	}
	return Answer{Kind: Unknown, Reason: "unrecognised answer, HTTP " + strconv.Itoa(status)}
}

// googleFacts is what one error body says, gathered in a single pass.
type googleFacts struct {
	status int    // HTTP status, or the body's code inside a 200
	code   string // canonical code name, e.g. RESOURCE_EXHAUSTED; "" if odd
	msg    string // message as sent
	lower  string // msg with ASCII lowered; same byte offsets as msg

	keyKind   Kind   // KeyInvalid, KeyLeaked or KeyBlocked from an ErrorInfo
	keyReason string // that ErrorInfo's reason, validated

	delay    time.Duration
	hasDelay bool

	quota quotaHit
}

// quotaHit keeps the most restrictive quota violation seen so far.
type quotaHit struct {
	rank     int // 0 none, then rankMinute < rankDay < rankZero
	id       string
	metric   string
	model    string
	limit    int64  // the quota's value; 0 when not given
	anyModel string // first model named by any violation
}

const (
	rankMinute = 1 + iota
	rankDay
	rankZero
)

// add folds one violation in: a higher rank wins, and at equal rank one
// that names a model beats one that does not.
func (q *quotaHit) add(rank int, id, metric, model string, limit int64) {
	id, metric, model = ident(id), ident(metric), modelName(model)
	if q.anyModel == "" {
		q.anyModel = model
	}
	if rank > q.rank || rank == q.rank && q.model == "" && model != "" {
		*q = quotaHit{rank: rank, id: id, metric: metric, model: model, limit: max(limit, 0), anyModel: q.anyModel}
	}
}

// rankOf ranks a violation from its limit and its window names.
func rankOf(zero bool, p period) int {
	switch {
	case zero:
		return rankZero
	case p == periodDay:
		return rankDay
	}
	return rankMinute // a window we cannot name: the mildest cooldown
}

// typeName returns the last component of an "@type" URL, e.g.
// "QuotaFailure" for "type.googleapis.com/google.rpc.QuotaFailure".
func typeName(t string) string {
	if i := strings.LastIndexAny(t, "./"); i >= 0 {
		return t[i+1:]
	}
	return t
}

func (g *googleFacts) scanDetails(details []gDetail) {
	for i := range details {
		d := &details[i]
		t := typeName(d.Type)
		if t == "" { // some proxies drop "@type": go by the fields
			switch {
			case len(d.Violations) > 0:
				t = "QuotaFailure"
			case d.RetryDelay != nil:
				t = "RetryInfo"
			case d.Reason != "":
				t = "ErrorInfo"
			}
		}
		switch t {
		case "ErrorInfo":
			g.errorInfo(d)
		case "QuotaFailure":
			for j := range d.Violations {
				v := &d.Violations[j]
				val, hasVal := limitValue(string(v.QuotaValue))
				p := periodOf(v.QuotaID)
				if p == periodUnknown {
					p = periodOf(v.QuotaMetric)
				}
				if p == periodUnknown {
					p = periodOf(v.Description)
				}
				g.quota.add(rankOf(hasVal && val == 0, p), v.QuotaID, v.QuotaMetric, v.QuotaDimensions.Model, val)
			}
		case "RetryInfo":
			if d, ok := retryDelay(d.RetryDelay); ok && !g.hasDelay {
				g.delay, g.hasDelay = d, true
			}
		}
	}
}

// errorInfo reads a google.rpc.ErrorInfo: key-level reasons, or a quota
// described in the metadata.
func (g *googleFacts) errorInfo(d *gDetail) {
	r := d.Reason
	var k Kind
	switch {
	case strings.Contains(r, "LEAKED"):
		k = KeyLeaked
	case r == "API_KEY_INVALID", r == "API_KEY_EXPIRED":
		k = KeyInvalid
	case strings.HasPrefix(r, "API_KEY_") && strings.HasSuffix(r, "_BLOCKED"),
		r == "CONSUMER_SUSPENDED", r == "CONSUMER_INVALID",
		r == "SERVICE_DISABLED", r == "BILLING_DISABLED":
		k = KeyBlocked
	case d.Metadata.QuotaLimit != "" || d.Metadata.QuotaMetric != "":
		m := &d.Metadata
		val, hasVal := limitValue(string(m.QuotaLimitValue))
		p := periodOf(m.QuotaLimit)
		if p == periodUnknown {
			p = periodOf(m.QuotaMetric)
		}
		g.quota.add(rankOf(hasVal && val == 0, p), m.QuotaLimit, m.QuotaMetric, "", val)
		return
	default:
		return
	}
	if g.keyKind == Unknown {
		g.keyKind, g.keyReason = k, ident(r)
	}
}

// retryDelay reads RetryInfo.retryDelay, a proto Duration in either JSON
// form.
func retryDelay(raw json.RawMessage) (time.Duration, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		s := string(raw[1 : len(raw)-1])
		if d, ok := ParseProtoDuration(s); ok {
			return clampDelay(d), true
		}
		if neg, ok := protoDurationSyntax(s); ok { // out of range
			if neg {
				return 0, true
			}
			return MaxDelay, true
		}
		return 0, false
	}
	if len(raw) == 0 || raw[0] != '{' {
		return 0, false
	}
	var pd gProtoDuration
	if json.Unmarshal(raw, &pd) != nil {
		return 0, false
	}
	sec, ok := limitValue(string(pd.Seconds))
	if !ok {
		return 0, false
	}
	nanos, _ := limitValue(string(pd.Nanos))
	switch {
	case sec < 0:
		return 0, true
	case sec >= int64(MaxDelay/time.Second):
		return MaxDelay, true
	}
	return clampDelay(time.Duration(sec)*time.Second + time.Duration(min(max(nanos, 0), 999_999_999))), true
}

// quotaExceeded opens each violation listed in a 429 message.
const quotaExceeded = "quota exceeded for"

// decide turns the facts into an Answer. Structured details come first.
// Message text is searched freely only in answers that do not quote the
// request back (403, 429); elsewhere a phrase must open the message, so a
// request cannot get its key disabled by carrying "API key not valid" in,
// say, a field name that an INVALID_ARGUMENT error echoes.
func (g *googleFacts) decide() Answer {
	st, code, lower := g.status, g.code, g.lower

	// The key itself.
	if g.keyKind != Unknown {
		switch g.keyKind {
		case KeyLeaked:
			return Answer{Kind: KeyLeaked, Reason: "API key reported as leaked"}
		case KeyInvalid:
			return Answer{Kind: KeyInvalid, Reason: "API key invalid or expired"}
		}
		return Answer{Kind: KeyBlocked, Reason: join("API key blocked:", g.keyReason)}
	}
	if (st == 400 || st == 401 || st == 403) &&
		(strings.HasPrefix(lower, "api key not valid") || strings.HasPrefix(lower, "api key expired") ||
			strings.HasPrefix(lower, "api key invalid")) {
		return Answer{Kind: KeyInvalid, Reason: "API key invalid or expired"}
	}
	if st == 403 || code == "PERMISSION_DENIED" {
		switch {
		case strings.Contains(lower, "leaked"):
			return Answer{Kind: KeyLeaked, Reason: "API key reported as leaked"}
		case containsAny(lower, "has been suspended", "consumer_suspended", "service_disabled",
			"api_key_service_blocked", "are blocked", "is blocked", "has not been used in project",
			"it is disabled", "requires billing to be enabled"):
			return Answer{Kind: KeyBlocked, Reason: "API key blocked"}
		}
		if containsAny(lower, "permission to access the file", "cachedcontent not found") {
			// A file or cached content of another project: the key is
			// fine, the resource is not this project's.
			return Answer{Kind: ResourceDenied, Reason: "resource of another project (file or cached content)"}
		}
		return Answer{Kind: ModelDenied, Reason: "permission denied for the model"}
	}

	if st == 429 || code == "RESOURCE_EXHAUSTED" {
		return g.quotaAnswer()
	}
	if st == 401 || code == "UNAUTHENTICATED" {
		return Answer{Kind: Unauthorized, Reason: "credentials not accepted"}
	}
	switch st {
	case 400, 404, 413, 501:
		return Answer{Kind: BadRequest, Reason: g.statusReason("bad request")}
	}
	if st >= 500 && st <= 599 {
		return Answer{Kind: Transient, Reason: g.statusReason("transient")}
	}
	switch code {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE", "UNIMPLEMENTED":
		return Answer{Kind: BadRequest, Reason: g.statusReason("bad request")}
	case "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED":
		return Answer{Kind: Transient, Reason: g.statusReason("transient")}
	}
	if code == "" && (strings.Contains(lower, "overloaded") || strings.Contains(lower, "high demand")) {
		return Answer{Kind: Transient, Reason: "transient: overloaded"}
	}
	return statusOnly(st)
}

// quotaAnswer classifies a 429 / RESOURCE_EXHAUSTED.
func (g *googleFacts) quotaAnswer() Answer {
	g.scanQuotaLines()
	if !g.hasDelay {
		g.delay, g.hasDelay = retryHint(g.lower)
	}
	q := &g.quota
	if q.rank == 0 {
		// Nothing structured: what does the prose say?
		switch p := periodOfLower(g.lower); {
		case p == periodDay:
			q.rank = rankDay
		case p == periodMinute, g.hasDelay, strings.Contains(g.lower, "exceeded your current quota"):
			q.rank = rankMinute
		default:
			return Answer{Kind: RateLimited, Reason: "rate limited, no quota named"}
		}
	}
	a := Answer{Model: q.model, Delay: g.delay, QuotaID: q.id, QuotaLimit: q.limit, Requests: requestQuota(q.id, q.metric)}
	if a.Model == "" {
		a.Model = q.anyModel
	}
	name := q.id
	if name == "" { // "generativelanguage.googleapis.com/generate_content_free_tier_requests"
		name = q.metric[strings.LastIndexByte(q.metric, '/')+1:]
	}
	switch q.rank {
	case rankZero:
		a.Kind, a.Reason = QuotaZero, join("zero quota", name)
	case rankDay:
		a.Kind, a.Reason = QuotaDay, join("per-day quota", name)
	default:
		a.Kind, a.Reason = QuotaMinute, join("per-minute quota", name)
	}
	return a
}

// scanQuotaLines folds in the violations that newer answers list only in
// the message, one a line after a "* " bullet:
//
//	Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash
//
// and the older prose "Quota exceeded for quota metric 'Generate Content
// API requests per minute' and limit '...' of service '...'". A line's
// window comes from its own words; without any it counts as per minute.
func (g *googleFacts) scanQuotaLines() {
	lower := g.lower
	at := 0
	for {
		i := strings.Index(lower[at:], quotaExceeded)
		if i < 0 {
			return
		}
		start := at + i + len(quotaExceeded)
		end := len(lower)
		if j := strings.Index(lower[start:], "quota exceeded"); j >= 0 {
			end = start + j
		}
		seg := lower[start:end]
		if j := strings.IndexByte(seg, '\n'); j >= 0 {
			seg = seg[:j]
		}
		g.quotaLine(start, seg)
		at = end
	}
}

// quotaLine reads one segment of the lowered message that starts at byte
// offset off.
func (g *googleFacts) quotaLine(off int, seg string) {
	var metric, model string
	if _, after, ok := strings.Cut(seg, "metric:"); ok {
		metric = word(after)
	} else if w := word(seg); strings.Contains(w, "/") {
		// Vertex: "Quota exceeded for aiplatform.googleapis.com/generate_
		// content_requests_per_minute_per_project_per_base_model with base
		// model: gemini-1.5-pro."
		metric = w
	}
	if i := strings.Index(seg, "model:"); i >= 0 {
		after := seg[i+len("model:"):]
		w := word(after)
		// Model ids can be case-sensitive: take them from the original.
		j := off + i + len("model:") + strings.Index(after, w)
		model = g.msg[j : j+len(w)]
	}
	zero := false
	var limit int64
	if _, after, ok := strings.Cut(seg, "limit:"); ok {
		v, ok := limitValue(word(after))
		zero = ok && v == 0
		limit = v
	}
	g.quota.add(rankOf(zero, periodOfLower(seg)), "", metric, model, limit)
}

// statusReason is prefix plus the canonical code, or the HTTP status.
func (g *googleFacts) statusReason(prefix string) string {
	if g.code != "" {
		return prefix + ": " + g.code
	}
	return prefix + ": HTTP " + strconv.Itoa(g.status)
}

// join appends a validated identifier to a fixed phrase.
func join(phrase, id string) string {
	if id == "" {
		return phrase
	}
	return phrase + " " + id
}

// requestQuota reports whether a quota, by its ID or metric, counts
// requests (GenerateRequestsPerMinutePerProjectPerModel-FreeTier,
// generate_content_free_tier_requests) rather than tokens.
func requestQuota(id, metric string) bool {
	l := lowerASCII(id + " " + metric)
	return strings.Contains(l, "request") && !strings.Contains(l, "token")
}
