package route

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// hopHeaders are the headers of one connection, not passed on.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade"}

// tailSize is how much of an answer's end is kept to read its usage.
const tailSize = 16 << 10

// pass writes target t's answer resp to the client as it comes, flushing
// each piece of a stream, and counts the tokens its usage says. A failure
// of the upstream mid-way ends a stream with an error event, and cuts
// another answer short. It returns a note for the access log, or "".
func (h *Handler) pass(w http.ResponseWriter, resp *http.Response, t Target, rq *request) string {
	defer resp.Body.Close()
	now := h.cfg.clock.Now()
	h.tokenWindow(t).fromHeaders(resp.Header, now)
	hd := w.Header()
	for k, v := range resp.Header {
		hd[k] = v
	}
	for _, k := range hopHeaders {
		hd.Del(k)
	}
	hd.Set(TargetHeader, t.String())
	sse := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	flush := sse || rq.stream || resp.ContentLength < 0
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	var tail tailBuffer
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			tail.write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				h.settle(t, rq, tail.bytes())
				return "client gone"
			}
			if flush {
				rc.Flush()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			h.settle(t, rq, tail.bytes())
			if sse {
				w.Write(streamError("apijongler: the upstream's stream broke off"))
				rc.Flush()
				return "stream cut by the upstream"
			}
			panic(http.ErrAbortHandler) // the client sees the answer cut
		}
	}
	h.settle(t, rq, tail.bytes())
	return ""
}

// streamError is an OpenAI stream's error event.
func streamError(msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "server_error", "code": "stream_error", "param": nil}})
	return append(append([]byte("data: "), b...), "\n\n"...)
}

// settle counts the input tokens the answer's usage reports in place of
// the estimate reserved for it.
func (h *Handler) settle(t Target, rq *request, tail []byte) {
	prompt, ok := usageIn(tail)
	if !ok {
		return
	}
	h.tokenWindow(t).settle(h.cfg.clock.Now(), rq.est, prompt)
}

// usageIn reads the input tokens of the last "usage" object in an
// answer's end: OpenAI's usage.prompt_tokens, in a whole answer or in a
// stream's last chunk.
func usageIn(tail []byte) (int64, bool) {
	i := bytes.LastIndex(tail, []byte(`"usage"`))
	if i < 0 {
		return 0, false
	}
	rest := bytes.TrimLeft(tail[i+len(`"usage"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return 0, false
	}
	var u struct {
		PromptTokens *int64 `json:"prompt_tokens"`
	}
	if json.NewDecoder(bytes.NewReader(rest[1:])).Decode(&u) != nil || u.PromptTokens == nil {
		return 0, false
	}
	return *u.PromptTokens, true
}

// tailBuffer keeps the last tailSize bytes written.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) write(p []byte) {
	t.b = append(t.b, p...)
	if over := len(t.b) - tailSize; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
}

func (t *tailBuffer) bytes() []byte { return t.b }
