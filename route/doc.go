// Package route serves one OpenAI-compatible endpoint over the
// connectors' transports: a request names a route, an ordered list of
// targets (a connector and a model of it), and goes to the first target
// that has headroom now, so that a free tier that is spent is skipped
// rather than sent a request that would come back 429.
//
// A [Handler] answers
//
//	POST /v1/chat/completions   body "model": a route name or a pinned "CONNECTOR/MODEL"
//	POST /v1/embeddings         the same
//	GET  /v1/models             every route and every CONNECTOR/MODEL, in OpenAI's list shape
//
// A target has headroom when its transport has a key that may serve the
// model now ([jongler.Transport.Headroom]: not cooling down, budget and
// learned request quotas not spent, the provider's last
// x-ratelimit-remaining-* not 0) and its token windows can take the
// request: the tokens the provider's x-ratelimit-remaining-tokens says
// are left, and the per-minute input-token quota Gemini states in a
// QuotaFailure, counted from the answers' usage and estimated from the
// request's size before it is sent.
//
// A request falls back to the next target on a 429, a 5xx or a
// connection failure, before the first byte of an answer is written to
// the client, never after: a stream that started stays with its target.
// When every target is spent the answer is 429 in OpenAI's error shape
// with Retry-After, in whole seconds, until the earliest moment a target
// has headroom again; a route with a wait ([Route.MaxWait]) waits for
// that moment instead when it comes soon enough. Every answer names the
// target that served it in the X-Apijongler-Target header.
//
// An OpenRouter-style "models" list in the body (route names or pinned
// targets) replaces the route's order for that request; it is not sent
// upstream.
package route
