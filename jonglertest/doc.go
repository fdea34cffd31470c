// Package jonglertest provides a simulated Gemini API server for tests,
// benchmarks and demos of API key rotation, in the spirit of
// net/http/httptest.
//
// A [Server] runs in-process on 127.0.0.1 and answers like Google's
// generativelanguage.googleapis.com: generateContent, streamGenerateContent
// (server-sent events or JSON array), the v1 and v1beta paths, and the
// OpenAI-compatible chat/completions endpoint. Its error bodies have the exact
// shapes Google sends (API_KEY_INVALID, leaked key, RESOURCE_EXHAUSTED with
// QuotaFailure, Help and RetryInfo, the newer message-only quota format,
// UNAVAILABLE, INTERNAL...), so the code that classifies answers can be tested
// against it.
//
// # Keys, projects and quotas
//
// Each [Key] belongs to a Google Cloud project. As with Google, quotas
// ([Quota]: requests per minute and per day) are counted per (project, model)
// and shared by all keys of a project, in fixed windows: minute windows start
// on whole simulated minutes, day windows at midnight America/Los_Angeles. A
// request over quota gets 429 RESOURCE_EXHAUSTED whose RetryInfo.retryDelay is
// the simulated time left in the violated window.
//
// # Simulated time
//
// Quotas run on a simulated [Clock] that starts at [Config.Start] and runs
// time.Minute/[Config.Minute] times faster than wall time, so a benchmark can
// live through hours of quota windows in seconds. retryDelay is simulated
// time: a client that waits with [Clock.Sleep] wakes up when the window ends.
// Give the clock to the code under test wherever it would use time.Now and
// time.Sleep for cool-downs.
//
// # Counters
//
// [Server.Stats] returns counters per key (by label: key values never appear
// in them, nor when a Key is formatted), per model and per quota-minute
// window, plus Overlaps: how often a key was used by two requests at once,
// which is how a test proves that a rotator leases keys exclusively. The
// first overlaps are logged with their time and the clients' addresses, so
// that a test killing clients can tell a dead client's request, not yet
// noticed gone, from a double use (see [Overlap]).
// [Server.Capacity] gives the most successes the quotas allow in an interval,
// to compute utilisation.
//
// # A header provider
//
// [Config.RateLimitHeaders] adds OpenAI's and Cerebras' rate-limit headers
// (x-ratelimit-{limit,remaining,reset}-requests and their -day variants) to
// every answer of a quota check, so that the same quotas can stand for a
// header provider such as OpenAI, Groq or Cerebras.
//
// # In a synctest bubble
//
// [NewUnstartedServer] returns a server that does not listen: serve its
// [Server.Handler] in memory inside a testing/synctest bubble, and simulated
// time moves only when every goroutine of the test waits, whatever the
// machine's load.
//
// # Faults
//
// [Faults] injects 503 overloaded, 500 internal, connection resets, answers
// cut in the middle, slow answers and bare 429s, with seeded probabilities
// (the same seed gives the same faults to the same request numbers) or every
// n-th request; [Server.InjectFaults] strikes the next n requests.
//
// # Use with the Gen AI SDK
//
//	srv := jonglertest.NewServer(jonglertest.Config{
//		Keys: []jonglertest.Key{
//			{Label: "a1", Value: "test-key-a1", Project: "project-a"},
//			{Label: "a2", Value: "test-key-a2", Project: "project-a"},
//			{Label: "b1", Value: "test-key-b1", Project: "project-b"},
//		},
//		Models: map[string]jonglertest.Quota{"gemini-2.5-flash": {RPM: 10, RPD: 250}},
//		Minute: 60 * time.Millisecond, // a simulated minute lasts 60ms
//	})
//	defer srv.Close()
//
//	client, err := genai.NewClient(ctx, &genai.ClientConfig{
//		APIKey:      "test-key-a1",
//		Backend:     genai.BackendGeminiAPI,
//		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
//	})
//	...
//	resp, err := client.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("Hi"), nil)
//	...
//	if srv.Stats().Overlaps > 0 { t.Error("a key was used twice at once") }
package jonglertest
