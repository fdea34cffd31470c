// Package proxy serves API Jongler's key rotation over HTTP, so that any
// language, SDK or tool that can change a base URL and an API key gets it:
// a [Handler] is a reverse proxy (net/http/httputil.ReverseProxy) that
// sends each request through a [jongler.Transport], which puts a leased key
// in place of the client's credential.
//
// Each transport's connector is served under /NAME/ (the rest of the path
// and the query go upstream unchanged), and under its aliases ("gemini",
// "hf"); one of them, or the only one, may also be served at /. A path that
// names no connector gets 404 with a JSON body listing the prefixes.
//
// Clients authenticate with a proxy token put exactly where they would put
// their API key (x-goog-api-key, "Authorization: Bearer", the key query
// parameter, or the connector's own header), so SDKs work unchanged: their
// "API key" is the token. Tokens are compared in constant time, never sent
// upstream and never logged; a missing or wrong one gets 401 in the
// connector's error shape. Whatever credential a client sends, none of it
// goes upstream: the transport sends a leased key in its place; a header,
// trailer or query parameter holding a token elsewhere (another SDK's key
// header, a cookie, a header's name) is not sent either, and a path holding
// one gets 400. A token is found raw and percent-encoded to any depth, hex
// digits in either case, and in a header's name in any case of its
// letters; one under 8 bytes is found only as a whole item (a header's
// name or value, a cookie, a query parameter, a path segment), so make
// tokens long: `openssl rand -hex 16`.
//
// Answers stream through as they come (server-sent events are flushed event
// by event); a client that goes away cancels the upstream request, which
// frees its key. A client never learns a key: where the upstream echoes the
// key it was sent, in headers, errors or a streamed body (raw,
// percent-encoded or JSON-escaped), the client reads the placeholder
// instead (a successful answer's Content-Length is dropped, as its length
// may change). An answer in a content coding comes decoded (gzip, x-gzip,
// deflate, br, zstd, stacked), as the key cannot be looked for in
// compressed bytes; one in a coding that cannot be undone gets 502 naming
// it, its body never sent. Trailers, declared or not, are redacted too. Hop-by-hop headers, X-Forwarded-*, Forwarded and
// X-Real-IP are dropped and the client's address is not sent. Errors of the
// proxy itself are answered in the upstream's error shape, never with the
// error's text: no key can serve (429 with Retry-After, or 503 when every
// key is refused for good), request body too large (413) or stalled for a
// minute (408), upstream timeout (504: no answer within
// [WithUpstreamHeaderTimeout] of the body's end), client gone (499, logged
// only), anything else (502).
//
// No client or upstream holds a key or a connection for ever: a stream whose
// upstream pauses longer than [WithStreamIdleTimeout] is cut, and so is an
// answer whose client takes nothing for [WithWriteTimeout] (the write
// deadline is pushed back before each chunk, so a stream read as it comes
// lasts as long as it must); their keys rest as after any request given up
// on. An answer given without reading the request's announced body (401, a
// token in the path) closes the connection, as net/http would otherwise wait
// for that body first. A server that cuts requests at shutdown cancels their
// base context ([http.Server.BaseContext]) with cause [http.ErrServerClosed]:
// the access log then says "cut at shutdown", not "client gone".
//
// Clients may be named ([WithClients]): each its own token, or the SHA-256
// of it, its own limits (429 saying so, when over them) and the connectors
// it may use (403 for another); its name, never its token, is in the
// access log and the metrics ([WithMeterProvider]).
//
// The [WithAccessLog] logger gets one line per request: the client's
// address and name, method, path
// (credentials in the query and any token redacted), status, connector, model, key name,
// attempts, bytes and duration. Never a key value, never a token.
package proxy
