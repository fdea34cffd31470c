package jongler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
		errs = append(errs, updateState(ctx, s, c, func(st *state) error {
			st.forget()
			return nil
		}))
	}
	return errors.Join(errs...)
}

// state is what a Store saves for one connector, encoded by encodeState.
type state struct {
	// Records lists the cooldowns and refusals in force or expired but not
	// yet pruned.
	Records []record `json:"records,omitempty"`
	// Backoff, when in the future, holds back every key of the connector:
	// the upstream throttles the caller, not a key.
	Backoff time.Time `json:"backoff,omitzero"`
	// Usage counts requests per project, model and window, for budgets.
	Usage []usage `json:"usage,omitempty"`
	// Throttles lists recent bare rate-limit answers by project, to tell a
	// throttled caller from a busy project.
	Throttles []throttleEvent `json:"throttles,omitempty"`
	// Learned lists the request quotas learned from refusals; see
	// LearnedQuota.
	Learned []learned `json:"learned,omitempty"`
	// Secret keys the fingerprints of key values; made at the first
	// refusal, kept with the state (mode 0600 in a FileStore).
	Secret []byte `json:"secret,omitempty"`
	// Owners says which project created each Gemini file and cached
	// content (see resources.go).
	Owners []resourceOwner `json:"owners,omitempty"`
}

// throttleEvent is one bare rate-limit answer: no quota named, no hint given.
type throttleEvent struct {
	Project string    `json:"project"`
	At      time.Time `json:"at"`
}

// record is a key's LOCKDOWN or ERROR state, for every model or just one.
type record struct {
	Key    string    `json:"key"`             // the key's name
	State  KeyState  `json:"state"`           // StateLockdown or StateError
	Model  string    `json:"model,omitempty"` // the model it applies to; "" for all
	Until  time.Time `json:"until,omitzero"`  // when a lockdown ends
	Reason string    `json:"reason,omitempty"`
	// Fingerprint is the keyed hash of the value an ERROR was earned
	// with (see state.fingerprint): another value under the same name
	// starts afresh.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// usage counts the requests sent with a project's keys for a model in one
// window.
type usage struct {
	Project string    `json:"project"`
	Model   string    `json:"model,omitempty"`
	Window  string    `json:"window"` // "minute" or "day"
	Start   time.Time `json:"start"`
	Count   int       `json:"count"`
}

// stateVersion is written in every encoded state, for readers to come.
const stateVersion = 1

type stateFile struct {
	Version int `json:"version"`
	state
}

// encodeState encodes st as a Store keeps it.
func encodeState(st *state) ([]byte, error) {
	out, err := json.MarshalIndent(stateFile{Version: stateVersion, state: *st}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jongler: encode state: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeState decodes what encodeState wrote, refusing unknown versions and
// records that make no sense, so that damaged state is never half
// believed. Empty data is the empty state.
func decodeState(data []byte) (state, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return state{}, nil
	}
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return state{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return state{}, errors.New("invalid JSON: data after the state object")
	}
	if f.Version != stateVersion {
		return state{}, fmt.Errorf("unknown version %d", f.Version)
	}
	for i, r := range f.Records {
		if r.Key == "" {
			return state{}, fmt.Errorf("record %d: no key", i)
		}
		if r.State != StateLockdown && r.State != StateError {
			return state{}, fmt.Errorf("record %d: state %q", i, r.State)
		}
	}
	return f.state, nil
}

// updateState applies fn to the decoded state of connector in s. Damaged
// state is replaced by fn's work on an empty one.
func updateState(ctx context.Context, s Store, connector string, fn func(*state) error) error {
	return s.Update(ctx, connector, func(cur []byte) ([]byte, error) {
		st, err := decodeState(cur)
		if err != nil {
			st = state{}
		}
		if err := fn(&st); err != nil {
			return nil, err
		}
		return encodeState(&st)
	})
}

// forget drops lockdowns, refusals, throttling and learned quotas (the
// next refusal teaches them again); budget counts stay, as they count
// requests the upstream has seen.
func (s *state) forget() {
	s.Records = nil
	s.Backoff = time.Time{}
	s.Throttles = nil
	s.Learned = nil
}

// activeAt reports whether r holds its key back at now for model
// ("" asks about the key as a whole).
func (r record) activeAt(now time.Time, model string) bool {
	if r.Model != "" && r.Model != model {
		return false
	}
	switch r.State {
	case StateError:
		return true
	case StateLockdown:
		return now.Before(r.Until)
	}
	return false
}

// prune drops lockdowns that ended before now, and the request counts of
// windows past (with a BudgetStore nothing else drops them).
func (s *state) prune(now time.Time) {
	kept := s.Records[:0]
	for _, r := range s.Records {
		if r.State == StateLockdown && !now.Before(r.Until) {
			continue
		}
		kept = append(kept, r)
	}
	s.Records = kept
	if len(s.Usage) > 0 {
		s.dropPastUsage(now)
	}
}

// setRecord replaces the record of (r.Key, r.Model) with r.
func (s *state) setRecord(r record) {
	for i, old := range s.Records {
		if old.Key == r.Key && old.Model == r.Model {
			if old.State == StateError && r.State == StateLockdown {
				return // a refusal outranks a cooldown
			}
			s.Records[i] = r
			return
		}
	}
	s.Records = append(s.Records, r)
}

// throttleWindow is how far back bare rate-limit answers are remembered;
// throttleProjects is how many distinct projects must get one within it for
// the caller, rather than a project, to be taken as throttled.
const (
	throttleWindow   = 30 * time.Second
	throttleProjects = 2
)

// noteThrottle records a bare rate-limit answer for project at now and
// reports whether throttleProjects distinct projects got one within
// throttleWindow.
func (s *state) noteThrottle(project string, now time.Time) bool {
	kept := s.Throttles[:0]
	for _, t := range s.Throttles {
		if now.Sub(t.At) < throttleWindow && t.Project != project {
			kept = append(kept, t)
		}
	}
	s.Throttles = append(kept, throttleEvent{Project: project, At: now})
	return len(s.Throttles) >= throttleProjects
}
