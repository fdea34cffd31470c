package jongler

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// MemoryStore is a [Store] that lives in one process: leases and records are
// shared by every [Transport] given the same MemoryStore, and are lost when
// the process ends. It suits tests and single-process services.
type MemoryStore struct {
	mu         sync.Mutex
	leases     map[string]*memoryConnector // by connector
	seq        int64
	connectors map[string]State
}

// memoryConnector holds the leases of one connector's keys.
type memoryConnector struct {
	keys  map[string]*memoryKey
	lists [4]*memoryList // the key lists last asked for, most recent first
}

type memoryKey struct {
	name     string
	inFlight int
	lastUsed int64
}

// memoryList is a list of keys as Acquire was given it, looked up once:
// the transport asks with the same list request after request.
type memoryList struct {
	names []string // a copy: the caller's slice may change
	keys  []*memoryKey
}

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		leases:     map[string]*memoryConnector{},
		connectors: map[string]State{},
	}
}

// list returns names looked up in connector's keys; m.mu is held.
func (m *MemoryStore) list(connector string, names []string) *memoryList {
	mc := m.leases[connector]
	if mc == nil {
		mc = &memoryConnector{keys: map[string]*memoryKey{}}
		m.leases[connector] = mc
	}
	for i, l := range mc.lists {
		if l != nil && slices.Equal(l.names, names) {
			copy(mc.lists[1:i+1], mc.lists[:i])
			mc.lists[0] = l
			return l
		}
	}
	l := &memoryList{names: slices.Clone(names), keys: make([]*memoryKey, len(names))}
	for i, n := range names {
		k := mc.keys[n]
		if k == nil {
			k = &memoryKey{name: n}
			mc.keys[n] = k
		}
		l.keys[i] = k
	}
	copy(mc.lists[1:], mc.lists[:len(mc.lists)-1])
	mc.lists[0] = l
	return l
}

// Acquire implements [Store].
func (m *MemoryStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slots = max(slots, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *memoryKey
	for _, k := range m.list(connector, keys).keys {
		if k.inFlight < slots && (best == nil || k.lastUsed < best.lastUsed) {
			best = k
		}
	}
	if best == nil {
		return nil, nil
	}
	best.inFlight++
	m.seq++
	best.lastUsed = m.seq
	return &memoryLease{store: m, key: best}, nil
}

// InFlight implements [Store].
func (m *MemoryStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(keys))
	for _, k := range m.list(connector, keys).keys {
		if k.inFlight > 0 {
			out[k.name] = k.inFlight
		}
	}
	return out, nil
}

// Load implements [Store].
func (m *MemoryStore) Load(ctx context.Context, connector string) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneState(m.connectors[connector]), nil
}

// Update implements [Store].
func (m *MemoryStore) Update(ctx context.Context, connector string, fn func(*State) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := cloneState(m.connectors[connector])
	if err := fn(&st); err != nil {
		return err
	}
	m.connectors[connector] = st
	return nil
}

// Clear implements [Store].
func (m *MemoryStore) Clear(ctx context.Context, connector string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, st := range m.connectors {
		if connector == "" || name == connector {
			_ = clearRecords(&st)
			m.connectors[name] = st
		}
	}
	return nil
}

type memoryLease struct {
	store    *MemoryStore
	key      *memoryKey
	released atomic.Bool
}

func (l *memoryLease) Key() string { return l.key.name }

func (l *memoryLease) Release() error {
	if l.released.Swap(true) {
		return nil
	}
	l.store.mu.Lock()
	l.key.inFlight--
	l.store.mu.Unlock()
	return nil
}

func cloneState(s State) State {
	return State{
		Records: append([]Record(nil), s.Records...),
		Backoff: s.Backoff,
		Usage:   append([]Usage(nil), s.Usage...),

		Throttles: append([]ThrottleEvent(nil), s.Throttles...),
	}
}

var _ Store = (*MemoryStore)(nil)
