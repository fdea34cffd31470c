package jongler

import (
	"context"
	"net/http"
	"strings"
)

// classifySuccess shows the policy an answer below 400 (body unread), so
// that rate-limit headers saying the key is spent rest it before it is
// sent another request; the answer itself is returned whatever the
// verdict.
func (t *Transport) classifySuccess(ctx context.Context, k Key, resp *http.Response, model string) {
	v := t.policy.Classify(&Answer{Status: resp.StatusCode, Header: resp.Header, Model: model, Now: t.clock.Now()})
	t.restIfSpent(ctx, k, v)
}

// restIfSpent records an accepting verdict's Until, if it has one in the
// future, as a lockdown of the key: the answer goes back to the caller and
// the key rests.
func (t *Transport) restIfSpent(ctx context.Context, k Key, v Verdict) {
	if v.Action != ActionAccept || !v.Until.After(t.clock.Now()) {
		return
	}
	v.Action = ActionLockdown
	if err := t.ring.apply(ctx, k, v); err != nil {
		t.logger.Warn("jongler: could not record key state", "connector", t.connector.Name, "key", k.Name, "err", err)
	}
}

// bodyNamesModel reports whether a request to path names its model in a
// JSON body's "model" field: OpenAI-style chat, completions, responses
// and embeddings, and Anthropic's messages.
func bodyNamesModel(path string) bool {
	for _, s := range [...]string{"/chat/completions", "/completions", "/responses", "/embeddings", "/messages"} {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}
