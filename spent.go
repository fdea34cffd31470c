package jongler

import (
	"context"
	"net/http"
	"strings"

	"github.com/api-jongler/jongler/internal/redact"
)

// classifySuccess shows the policy an answer below 400 (body unread), so
// that rate-limit headers saying the key is spent rest it before it is
// sent another request; the answer itself is returned whatever the
// verdict.
func (t *Transport) classifySuccess(ctx context.Context, l *leased, resp *http.Response, model string, red redact.Redactor) {
	// The answer shown lives in the lease, allocated anyway.
	a := &l.answer // zero until now: set field by field, not moved whole
	a.Status, a.Header, a.Model, a.Now = resp.StatusCode, resp.Header, model, t.ring.now()
	v := t.policy.Classify(a)
	v.Reason, v.Model = red.Replace(v.Reason), red.Replace(v.Model) // both logged and stored
	t.noteVerdict(ctx, &l.key, &v)
}

// noteVerdict records what a verdict says beyond its action: the quota an
// answer states, learned for the key's project and the verdict's model;
// and an accepting verdict's Until, if it has one in the future, as a
// lockdown of the key: the answer goes back to the caller and the key
// rests.
func (t *Transport) noteVerdict(ctx context.Context, k *Key, v *Verdict) {
	if v.learn.limit > 0 && v.Model != "" {
		t.learnQuota(ctx, k.Project, v.Model, v.learn)
	}
	if v.Action != ActionAccept || v.Until.IsZero() || !v.Until.After(t.ring.now()) {
		return
	}
	lock := *v
	lock.Action = ActionLockdown
	if err := t.ring.apply(ctx, *k, lock); err != nil {
		t.logger.Warn("jongler: could not record key state", "connector", t.connector.Name, "key", k.Name, "err", err)
	}
}

// learnQuota records quota q, stated by an answer, for project and model.
// Apart from noteVerdict, so that what its closure captures is allocated
// only when there is a quota to learn.
func (t *Transport) learnQuota(ctx context.Context, project, model string, q quotaFact) {
	now := t.ring.now()
	err := t.ring.update(ctx, func(st *state) error {
		st.learn(project, model, q, now)
		return nil
	})
	if err != nil {
		t.logger.Warn("jongler: could not record a learned quota", "connector", t.connector.Name, "err", err)
		return
	}
	t.logger.Info("jongler: quota learned", "connector", t.connector.Name, "project", project, "model", model,
		"window", q.window, "limit", q.limit, "from", q.from)
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
