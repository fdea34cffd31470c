package jongler

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/api-jongler/jongler/internal/redact"
)

// Every key value a Transport knows is taken out of what comes back, not
// only the one leased for the request: an upstream may echo another key of
// the pool (one it saw in an earlier request, say), and a caller who holds
// none (the proxy's client) must not learn it. Transports given one
// LeaseGroup (serve's, over all its connectors and reloads) take out
// every value the group has seen.

// redactSet is a growing set of key values, all looked for at once.
type redactSet struct {
	mu     sync.Mutex
	values []string
	keys   atomic.Pointer[redact.Keys]
}

// add adds the values of keys to s.
func (s *redactSet) add(keys []Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.values)
	for _, k := range keys {
		if !slices.Contains(s.values, k.Value) {
			s.values = append(s.values, k.Value)
		}
	}
	if len(s.values) != n || s.keys.Load() == nil {
		s.keys.Store(redact.NewKeys(s.values...))
	}
}

// redaction returns the set of values t takes out of what comes back:
// its lease group's, or its own keys'.
func (t *Transport) redaction() *redact.Keys {
	return t.redact.keys.Load()
}
