package jongler

import (
	"context"
	"errors"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// A Store keeps the state of a connector's keys where every [Transport] that
// uses it can see it: who holds a lease now, and the connector's saved
// state (cooldowns, refusals, budget counts unless it is a [BudgetStore]),
// which the transport encodes
// and the store keeps as opaque bytes. [NewFileStore] shares it between
// the processes of one machine; [NewMemoryStore] within one process.
// Package storetest holds the contract every Store must pass.
//
// Keys are named by their names from the configuration, never by value,
// and the saved state holds no key value either. A Store is safe for
// concurrent use.
type Store interface {
	// Acquire leases one in-flight slot, out of slots, of the least
	// recently used key among keys, without waiting. It returns a nil Lease
	// and a nil error when every slot of every key is held. keys is the
	// caller's, often the same slice call after call: a store must not
	// modify it (it may remember what it derived from it).
	Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error)

	// InFlight reports how many slots of each key are leased now.
	InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error)

	// Load returns the connector's state as last written by Update, or nil
	// when there is none. The caller must not modify the slice.
	Load(ctx context.Context, connector string) ([]byte, error)

	// Update replaces the connector's state with fn(current), excluding
	// every other Update of the connector, in every process sharing the
	// store, between the read and the write. fn may be called more than
	// once (an optimistic store retries when another writer came first);
	// if it returns an error, nothing is written.
	Update(ctx context.Context, connector string, fn func(current []byte) ([]byte, error)) error
}

// A Lease is the right to send one request with a key.
type Lease interface {
	// Key names the leased key.
	Key() string
	// Release gives the lease back; releasing twice is harmless.
	Release(ctx context.Context) error
	// Lost returns a channel closed if the store can no longer vouch for
	// the lease before it is released (a networked store whose lease
	// expired unrenewed), or nil when its leases cannot be lost. The
	// transport then cancels the request in flight with [ErrLeaseLost].
	Lost() <-chan struct{}
}

// Cleanup clears the cooldown and refusal records of each named connector
// in s, so that every key is vacant again. Budget counts stay: they count
// requests the upstream has seen. Leases in flight are not touched; they
// end with their requests.
func Cleanup(ctx context.Context, s Store, connectors ...string) error {
	var errs []error
	for _, c := range connectors {
		if name, err := canonicalName(c); err == nil {
			c = name
		}
		errs = append(errs, state.Update(ctx, s, c, func(st *state.State) error {
			st.Forget()
			return nil
		}))
	}
	return errors.Join(errs...)
}

// decodeState decodes a Store's bytes as the transport does: the file
// store sets aside a state file that does not decode.
func decodeState(data []byte) (state.State, error) { return state.Decode(data) }

// A StoreClock is a [Store] that tells the time every process sharing it
// agrees on, such as a networked store reading its server's clock. When a
// Transport's store is one, every time the transport records or compares
// (cooldown ends, budget windows, throttles, the Now a [Policy] is given)
// is the store's, so processes whose clocks disagree still agree on when a
// cooldown ends; the transport's [Clock] only waits. A store that runs on
// simulated time takes the simulated clock itself.
//
// Now must be cheap (no round trip): the store estimates the shared time
// from what it last heard, and the error of that estimate is the window in
// which two processes may disagree.
type StoreClock interface {
	Store
	Now() time.Time
}
