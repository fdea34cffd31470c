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
func (t *Transport) classifySuccess(ctx context.Context, k Key, resp *http.Response, model string, red redactor) {
	v := t.policy.Classify(&Answer{Status: resp.StatusCode, Header: resp.Header, Model: model, Now: t.ring.now()})
	v.Reason, v.Model = red.string(v.Reason), red.string(v.Model) // both logged and stored
	t.noteVerdict(ctx, k, v)
}

// noteVerdict records what a verdict says beyond its action: the quota an
// answer states, learned for the key's project and the verdict's model;
// and an accepting verdict's Until, if it has one in the future, as a
// lockdown of the key: the answer goes back to the caller and the key
// rests.
func (t *Transport) noteVerdict(ctx context.Context, k Key, v Verdict) {
	if q := v.learn; q.limit > 0 && v.Model != "" {
		now := t.ring.now()
		err := t.ring.update(ctx, func(st *state) error {
			st.learn(k.Project, v.Model, q, now)
			return nil
		})
		if err != nil {
			t.logger.Warn("jongler: could not record a learned quota", "connector", t.connector.Name, "err", err)
		} else {
			t.logger.Info("jongler: quota learned", "connector", t.connector.Name, "project", k.Project, "model", v.Model,
				"window", q.window, "limit", q.limit, "from", q.from)
		}
	}
	if v.Action != ActionAccept || !v.Until.After(t.ring.now()) {
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
