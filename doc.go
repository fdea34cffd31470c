// Package jongler rotates API keys for LLM APIs as an [http.RoundTripper].
//
// A [Transport] sends each request with a key leased from a pool, reads the
// upstream's answer with a [Policy] (Google's RetryInfo and QuotaFailure,
// Retry-After, Hugging Face's errors), cools a rate-limited key down exactly
// as long as its quota says, and sends the request again with the next
// vacant key. Keys' states — VACANT, LOCKED, LOCKDOWN, ERROR — live in a
// [Store]; the default [FileStore] shares them with every process on the
// machine through flock-guarded files, so no two requests use a key at once
// and a crashed process leaves no stale lock. Key values never appear in a
// log, an error or a file name.
//
// # A plain client
//
// Keys come from the INI file named by $APIJONGLER_CONFIG ([LoadConfig]),
// or from [WithKeys]. The client's own credential, a placeholder, is
// replaced in the same place with a leased key:
//
//	tr, err := jongler.NewTransport(jongler.ConnectorGemini) // or "gemini"
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//	resp, err := client.Post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
//		"application/json", strings.NewReader(`{"contents":[{"parts":[{"text":"Hello"}]}]}`))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer resp.Body.Close() // ends the key's lease
//
// # An SDK
//
// Any SDK that takes an [http.Client], such as Google's Gen AI SDK:
//
//	client, err := genai.NewClient(ctx, &genai.ClientConfig{
//		APIKey:     "placeholder", // replaced by a leased key in every request
//		Backend:    genai.BackendGeminiAPI,
//		HTTPClient: &http.Client{Transport: tr},
//	})
//
// # Keys given in code, states read back
//
//	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
//		jongler.WithKeys(
//			jongler.Key{Name: "key1", Value: os.Getenv("GEMINI_KEY_1"), Project: "proj-a"},
//			jongler.Key{Name: "key2", Value: os.Getenv("GEMINI_KEY_2"), Project: "proj-b"},
//		),
//		jongler.WithStore(jongler.NewMemoryStore()), // one process; the default shares the machine
//	)
//	...
//	ks, err := tr.KeyStates(ctx)
//	fmt.Println("vacant", ks.Vacant, "cooling down", ks.Lockdown)
//
// When every key is held back, a request that got no answer fails with an
// error matching [ErrNoKeys], a *[NoKeyError] whose RetryAfter says when
// the first key is back.
//
// # Your own policy or store
//
// A [Policy] reads answers ([PolicyFunc] adapts a function); a [Store]
// keeps leases and the state the transport saves as bytes, and package
// storetest holds a new store to the contract:
//
//	tr, err := jongler.NewTransport("my-upstream", // a connector file in $APIJONGLER_CONNECTORS
//		jongler.WithPolicy(jongler.PolicyFunc(func(a *jongler.Answer) jongler.Verdict {
//			if a.Status == http.StatusTooManyRequests {
//				return jongler.Verdict{Action: jongler.ActionLockdown, Until: a.Now.Add(time.Minute), Reason: "429"}
//			}
//			return jongler.Verdict{Action: jongler.ActionAccept}
//		})),
//	)
//
// The same paths run as the package's Example functions (go test -run
// Example), which go doc -http shows runnable. Package compat keeps the
// original API Jongler's calls; package jonglertest serves a simulated
// Gemini API to test against.
package jongler
