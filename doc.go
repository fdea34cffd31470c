// Package jongler rotates API keys for LLM APIs as an [http.RoundTripper].
//
// A [Transport] sends each request with a key leased from a pool, reads the
// upstream's answer with a [Policy] (Google's RetryInfo and QuotaFailure,
// Retry-After, Hugging Face's errors), cools a rate-limited key down exactly
// as long as its quota says, and sends the request again with the next
// vacant key. Keys' states — VACANT, LOCKED, LOCKDOWN, ERROR — live in a
// [Store]; the default [FileStore] shares them with every process on the
// machine through flock-guarded files, so no two requests use a key at once
// and a crashed process leaves no stale lock.
//
// Wrap any [http.Client], such as the one of Google's Gen AI SDK:
//
//	tr, err := jongler.NewTransport("generativelanguage.googleapis.com")
//	...
//	client, err := genai.NewClient(ctx, &genai.ClientConfig{
//		APIKey:     "placeholder", // replaced by a leased key in every request
//		Backend:    genai.BackendGeminiAPI,
//		HTTPClient: &http.Client{Transport: tr},
//	})
//
// Keys come from the original API Jongler's INI file, named by
// $APIJONGLER_CONFIG ([LoadConfig]); upstreams are described by connector
// files ([Connector]). [New] offers the original's request API. Key values
// never appear in a log, an error or a file name.
//
// Package jonglertest serves a simulated Gemini API to test against;
// package storetest holds stores to the contract of [Store].
package jongler
