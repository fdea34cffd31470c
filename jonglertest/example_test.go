package jonglertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// generate sends a generateContent request with key and returns the status
// and the retryDelay of a 429, if any.
func generate(srv *jonglertest.Server, key string) (status string, retryDelay time.Duration) {
	req, _ := http.NewRequest(http.MethodPost,
		srv.URL+"/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}`))
	req.Header.Set("x-goog-api-key", key)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Details []struct {
				RetryDelay string `json:"retryDelay"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	for _, d := range body.Error.Details {
		if d.RetryDelay != "" {
			retryDelay, _ = time.ParseDuration(d.RetryDelay)
		}
	}
	return resp.Status, retryDelay
}

// Two keys of one project share its quota: after two requests in a minute,
// both keys are refused until the minute ends.
func Example() {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys: []jonglertest.Key{
			{Label: "alice", Value: "test-key-alice", Project: "shared"},
			{Label: "bob", Value: "test-key-bob", Project: "shared"},
			{Label: "carol", Value: "test-key-carol", Project: "own"},
		},
		Models: map[string]jonglertest.Quota{"gemini-2.5-flash": {RPM: 2, RPD: 100}},
		Start:  time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	})
	defer srv.Close()

	for _, key := range []string{"test-key-alice", "test-key-bob", "test-key-bob", "test-key-carol", "no-such-key"} {
		status, retry := generate(srv, key)
		if retry > 0 {
			status += fmt.Sprintf(", retry in about %v", retry.Round(time.Second))
		}
		fmt.Println(status)
	}
	st := srv.Stats()
	fmt.Printf("bob: %d requests, %d successes, %d rate-limited\n",
		st.Keys["bob"].Requests, st.Keys["bob"].Successes, st.Keys["bob"].RateLimited)
	fmt.Println("overlaps:", st.Overlaps)
	// Output:
	// 200 OK
	// 200 OK
	// 429 Too Many Requests, retry in about 1m0s
	// 200 OK
	// 400 Bad Request
	// bob: 2 requests, 1 successes, 1 rate-limited
	// overlaps: 0
}

// A client that waits out retryDelay on the server's clock gets through as
// soon as the quota window ends, here 300 times faster than in real time.
func ExampleServer_Clock() {
	srv := jonglertest.NewServer(jonglertest.Config{
		Keys:   []jonglertest.Key{{Label: "k", Value: "test-key"}},
		Models: map[string]jonglertest.Quota{"gemini-2.5-flash": {RPM: 1, RPD: jonglertest.Unlimited}},
		Minute: 200 * time.Millisecond,
		Start:  time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), // a minute window starts
	})
	defer srv.Close()

	fmt.Println(generate(srv, "test-key"))
	status, retry := generate(srv, "test-key")
	fmt.Println(status, retry > 0 && retry <= time.Minute)
	if err := srv.Clock().Sleep(context.Background(), retry); err != nil {
		fmt.Println(err)
	}
	fmt.Println(generate(srv, "test-key"))
	// Output:
	// 200 OK 0s
	// 429 Too Many Requests true
	// 200 OK 0s
}
