package jongler

import (
	"context"
	"sync"
)

// MemoryStore is a [Store] that lives in one process: leases and records are
// shared by every [Transport] given the same MemoryStore, and are lost when
// the process ends. It suits tests and single-process services.
type MemoryStore struct {
	mu         sync.Mutex
	inFlight   map[slotKey]int
	lastUsed   map[slotKey]int64
	seq        int64
	connectors map[string]State
}

type slotKey struct{ connector, key string }

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		inFlight:   map[slotKey]int{},
		lastUsed:   map[slotKey]int64{},
		connectors: map[string]State{},
	}
}

// Acquire implements [Store].
func (m *MemoryStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	best := -1
	var bestUsed int64
	for i, k := range keys {
		sk := slotKey{connector, k}
		if m.inFlight[sk] >= max(slots, 1) {
			continue
		}
		if used := m.lastUsed[sk]; best < 0 || used < bestUsed {
			best, bestUsed = i, used
		}
	}
	if best < 0 {
		return nil, nil
	}
	sk := slotKey{connector, keys[best]}
	m.inFlight[sk]++
	m.seq++
	m.lastUsed[sk] = m.seq
	return &memoryLease{store: m, slot: sk}, nil
}

// InFlight implements [Store].
func (m *MemoryStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(keys))
	for _, k := range keys {
		if n := m.inFlight[slotKey{connector, k}]; n > 0 {
			out[k] = n
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
	store *MemoryStore
	slot  slotKey
	once  sync.Once
}

func (l *memoryLease) Key() string { return l.slot.key }

func (l *memoryLease) Release() error {
	l.once.Do(func() {
		l.store.mu.Lock()
		l.store.inFlight[l.slot]--
		l.store.mu.Unlock()
	})
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
