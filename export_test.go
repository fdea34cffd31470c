package jongler

import (
	"context"

	"github.com/api-jongler/jongler/internal/state"
)

// Names for this package's external tests only.
type (
	State  = state.State
	Record = state.Record
	Usage  = state.Usage
)

// The states a Record holds a key in.
const (
	RecordLockdown = state.Lockdown
	RecordError    = state.Error
)

// RetryAfter reads a Retry-After header as the policies do.
var RetryAfter = retryAfter

// Tuning constants, as the tests measure against them.
const (
	DefaultThrottleCooldown = defaultThrottleCooldown
	DefaultCooldown         = defaultCooldown
)

// UpdateState applies fn to the decoded state of connector in s, as the
// transport does.
func UpdateState(ctx context.Context, s Store, connector string, fn func(*State) error) error {
	return state.Update(ctx, s, connector, fn)
}

// LoadState loads and decodes the state of connector in s.
func LoadState(ctx context.Context, s Store, connector string) (State, error) {
	raw, err := s.Load(ctx, connector)
	if err != nil {
		return State{}, err
	}
	return state.Decode(raw)
}

// MaxModelLabels bounds the models the metrics name.
const MaxModelLabels = maxModelLabels

// CounterNames returns how many budget counters m keeps for connector.
func (m *MemoryStore) CounterNames(connector string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts[connector])
}
