package jongler

import (
	"bytes"
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
	connectors map[string][]byte
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
		connectors: map[string][]byte{},
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
	store    *MemoryStore
	key      *memoryKey
	released atomic.Bool
}

func (l *memoryLease) Key() string { return l.key.name }

func (l *memoryLease) Lost() <-chan struct{} { return nil }

func (l *memoryLease) Release(context.Context) error {
	if l.released.Swap(true) {
		return nil
	}
	l.store.mu.Lock()
	l.key.inFlight--
	l.store.mu.Unlock()
	return nil
}

var _ Store = (*MemoryStore)(nil)
