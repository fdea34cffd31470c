package jongler

import (
	"context"
	"time"
)

// A Store keeps the state of a connector's keys where every [Transport] that
// uses it can see it: who holds a lease now, which keys cool down until when,
// which are refused for good. [NewFileStore] shares it between the processes
// of one machine; [NewMemoryStore] within one process. Package storetest
// holds the contract every Store must pass.
//
// Keys are named by their names from the configuration, never by value.
type Store interface {
	// Acquire leases one in-flight slot, out of slots, of the least
	// recently used key among keys, without waiting. It returns a nil Lease
	// and a nil error when every slot of every key is held.
	Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error)

	// InFlight reports how many slots of each key are leased now.
	InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error)

	// Load returns the connector's persisted records.
	Load(ctx context.Context, connector string) (State, error)

	// Update applies fn to the connector's records and persists the result,
	// excluding every other Update of the connector while fn runs. If fn
	// returns an error nothing is written.
	Update(ctx context.Context, connector string, fn func(*State) error) error

	// Clear removes the connector's records (every connector's when
	// connector is ""). Leases in flight are not touched.
	Clear(ctx context.Context, connector string) error
}

// A Lease is the right to send one request with a key. Release gives it
// back; releasing twice is harmless.
type Lease interface {
	// Key names the leased key.
	Key() string
	// Release gives the lease back.
	Release() error
}

// State is what a [Store] persists for one connector.
type State struct {
	// Records lists the cooldowns and refusals in force or expired but not
	// yet pruned.
	Records []Record `json:"records,omitempty"`
	// Backoff, when in the future, holds back every key of the connector:
	// the upstream throttles the caller, not a key.
	Backoff time.Time `json:"backoff,omitzero"`
	// Usage counts requests per project, model and window, for budgets.
	Usage []Usage `json:"usage,omitempty"`
	// Throttles lists recent bare rate-limit answers by project, to tell a
	// throttled caller from a busy project.
	Throttles []ThrottleEvent `json:"throttles,omitempty"`
}

// ThrottleEvent is one bare rate-limit answer: no quota named, no hint given.
type ThrottleEvent struct {
	Project string    `json:"project"`
	At      time.Time `json:"at"`
}

// Record is a key's LOCKDOWN or ERROR state, for every model or just one.
type Record struct {
	Key    string    `json:"key"`             // the key's name
	State  KeyState  `json:"state"`           // StateLockdown or StateError
	Model  string    `json:"model,omitempty"` // the model it applies to; "" for all
	Until  time.Time `json:"until,omitzero"`  // when a lockdown ends
	Reason string    `json:"reason,omitempty"`
}

// Usage counts the requests sent with a project's keys for a model in one
// window.
type Usage struct {
	Project string    `json:"project"`
	Model   string    `json:"model,omitempty"`
	Window  string    `json:"window"` // "minute" or "day"
	Start   time.Time `json:"start"`
	Count   int       `json:"count"`
}

// activeAt reports whether r holds its key back at now for model
// ("" asks about the key as a whole).
func (r Record) activeAt(now time.Time, model string) bool {
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

// prune drops lockdowns that ended before now.
func (s *State) prune(now time.Time) {
	kept := s.Records[:0]
	for _, r := range s.Records {
		if r.State == StateLockdown && !now.Before(r.Until) {
			continue
		}
		kept = append(kept, r)
	}
	s.Records = kept
}

// setRecord replaces the record of (r.Key, r.Model) with r.
func (s *State) setRecord(r Record) {
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

// ThrottleWindow is how far back bare rate-limit answers are remembered;
// ThrottleProjects is how many distinct projects must get one within it for
// the caller, rather than a project, to be taken as throttled.
const (
	ThrottleWindow   = 30 * time.Second
	ThrottleProjects = 2
)

// noteThrottle records a bare rate-limit answer for project at now and
// reports whether ThrottleProjects distinct projects got one within
// ThrottleWindow.
func (s *State) noteThrottle(project string, now time.Time) bool {
	kept := s.Throttles[:0]
	for _, t := range s.Throttles {
		if now.Sub(t.At) < ThrottleWindow && t.Project != project {
			kept = append(kept, t)
		}
	}
	s.Throttles = append(kept, ThrottleEvent{Project: project, At: now})
	return len(s.Throttles) >= ThrottleProjects
}
