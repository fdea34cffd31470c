package jongler

import (
	"bytes"
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
	connectors map[string][]byte
}

type slotKey struct{ connector, key string }

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		inFlight:   map[slotKey]int{},
		lastUsed:   map[slotKey]int64{},
		connectors: map[string][]byte{},
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
func (m *MemoryStore) Load(ctx context.Context, connector string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connectors[connector], nil
}

// Update implements [Store].
func (m *MemoryStore) Update(ctx context.Context, connector string, fn func([]byte) ([]byte, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// fn gets a copy: the saved slice is handed out by Load, and stays as
	// it is until replaced.
	out, err := fn(bytes.Clone(m.connectors[connector]))
	if err != nil {
		return err
	}
	m.connectors[connector] = bytes.Clone(out)
	return nil
}

type memoryLease struct {
	store *MemoryStore
	slot  slotKey
	once  sync.Once
}

func (l *memoryLease) Key() string { return l.slot.key }

func (l *memoryLease) Lost() <-chan struct{} { return nil }

func (l *memoryLease) Release(context.Context) error {
	l.once.Do(func() {
		l.store.mu.Lock()
		l.store.inFlight[l.slot]--
		l.store.mu.Unlock()
	})
	return nil
}

var _ Store = (*MemoryStore)(nil)
