package main

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
)

// naiveRotator is the original API Jongler's algorithm, as the benchmark
// issue states it: a request is sent with a key; on a 429 it is sent again
// with the next key, until every key has been tried once, and the last
// answer is returned. Nothing is remembered from one request to the next:
// no cooldown, no lease, no budget. Each request starts at a random key,
// so that requests spread over the keys without any shared state.
type naiveRotator struct {
	keys []string // values
	base http.RoundTripper
}

func (n *naiveRotator) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body.Close()
		if req.GetBody == nil {
			return nil, errors.New("naive rotator: a request body needs GetBody to be sent again")
		}
	}
	first := rand.IntN(len(n.keys))
	for i := range n.keys {
		r := req.Clone(req.Context())
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		r.Header.Set("x-goog-api-key", n.keys[(first+i)%len(n.keys)])
		resp, err := n.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusTooManyRequests || i == len(n.keys)-1 {
			return resp, nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	panic("unreachable")
}
