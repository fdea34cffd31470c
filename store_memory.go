package jongler

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/filestore"
)

// MemoryStore is a [Store] that lives in one process: leases and records are
// shared by every [Transport] given the same MemoryStore, and are lost when
// the process ends. It suits tests and single-process services.
type MemoryStore struct {
	mu         sync.Mutex
	leases     map[string]*memoryConnector // by connector
	connectors map[string][]byte
	counts     map[string]map[string]*memoryCount // budget counters, by connector and name
	secret     []byte                             // keys the fingerprints of its records' key values
}

// memoryCount is a budget counter's count in the window starting at
// start.
type memoryCount struct {
	start time.Time
	n     int
}

// memoryConnector holds the leases of one connector's keys, and their
// order of last use: a queue, least recently leased first, so that Acquire
// finds the key to lease at or near the head instead of looking at every
// key. Keys are numbered in the order they were first asked for.
type memoryConnector struct {
	ids        map[string]int32
	names      []string
	inFlight   []int32
	prev, next []int32 // the queue; -1 ends it
	head, tail int32
	lists      [4]*memoryList // the key lists last asked for, most recent first
}

// memoryList is a list of keys as Acquire was given it, looked up once:
// the transport asks with the same list request after request.
type memoryList struct {
	names  []string // a copy: the caller's slice may change
	ids    []int32
	member []uint64 // bit set of ids
}

func (l *memoryList) has(id int32) bool { return l.member[id/64]&(1<<(id%64)) != 0 }

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand panics rather)
	return &MemoryStore{
		leases:     map[string]*memoryConnector{},
		connectors: map[string][]byte{},
		secret:     secret,
	}
}

// fingerprintSecret returns the secret that keys the fingerprints of the
// store's records: the store's own, held apart from what it stores.
func (m *MemoryStore) fingerprintSecret() []byte { return m.secret }

// String names the store in messages.
func (m *MemoryStore) String() string { return "memory store" }

// list returns names looked up in connector's keys; m.mu is held.
func (m *MemoryStore) list(connector string, names []string) (*memoryConnector, *memoryList) {
	mc := m.leases[connector]
	if mc == nil {
		mc = &memoryConnector{ids: map[string]int32{}, head: -1, tail: -1}
		m.leases[connector] = mc
	}
	for i, l := range mc.lists {
		if l != nil && filestore.SameNames(l.names, names) {
			copy(mc.lists[1:i+1], mc.lists[:i])
			mc.lists[0] = l
			return mc, l
		}
	}
	l := &memoryList{names: slices.Clone(names), ids: make([]int32, len(names))}
	var fresh []int32
	for i, n := range names {
		id, ok := mc.ids[n]
		if !ok {
			id = int32(len(mc.names))
			mc.ids[n] = id
			mc.names = append(mc.names, n)
			mc.inFlight = append(mc.inFlight, 0)
			mc.prev, mc.next = append(mc.prev, -1), append(mc.next, -1)
			fresh = append(fresh, id)
		}
		l.ids[i] = id
	}
	// Keys never leased come first, in the order asked.
	for i := len(fresh) - 1; i >= 0; i-- {
		mc.pushFront(fresh[i])
	}
	l.member = make([]uint64, (len(mc.names)+63)/64)
	for _, id := range l.ids {
		l.member[id/64] |= 1 << (id % 64)
	}
	// Lists made before these keys existed have no bits for them.
	for i, old := range mc.lists {
		if old != nil && len(old.member) < len(l.member) {
			mc.lists[i] = nil
		}
	}
	copy(mc.lists[1:], mc.lists[:len(mc.lists)-1])
	mc.lists[0] = l
	return mc, l
}

func (mc *memoryConnector) pushFront(id int32) {
	mc.prev[id], mc.next[id] = -1, mc.head
	if mc.head >= 0 {
		mc.prev[mc.head] = id
	}
	mc.head = id
	if mc.tail < 0 {
		mc.tail = id
	}
}

// toBack moves id to the end of the queue: it is the most recently used.
func (mc *memoryConnector) toBack(id int32) {
	if mc.tail == id {
		return
	}
	p, n := mc.prev[id], mc.next[id]
	if p >= 0 {
		mc.next[p] = n
	} else {
		mc.head = n
	}
	mc.prev[n] = p // id is not the tail, so n ≥ 0
	mc.prev[id], mc.next[id] = mc.tail, -1
	mc.next[mc.tail] = id
	mc.tail = id
}

// Acquire implements [Store].
func (m *MemoryStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slots = max(slots, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	mc, l := m.list(connector, keys)
	for id := mc.head; id >= 0; id = mc.next[id] {
		if int(mc.inFlight[id]) < slots && l.has(id) {
			mc.inFlight[id]++
			mc.toBack(id)
			return &memoryLease{store: m, mc: mc, id: id, key: mc.names[id]}, nil
		}
	}
	return nil, nil
}

// InFlight implements [Store].
func (m *MemoryStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(keys))
	mc, l := m.list(connector, keys)
	for _, id := range l.ids {
		if n := mc.inFlight[id]; n > 0 {
			out[mc.names[id]] = int(n)
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
	mc       *memoryConnector
	id       int32
	key      string
	released atomic.Bool
}

func (l *memoryLease) Key() string { return l.key }

func (l *memoryLease) Lost() <-chan struct{} { return nil }

func (l *memoryLease) Release(context.Context) error {
	if l.released.Swap(true) {
		return nil
	}
	l.store.mu.Lock()
	l.mc.inFlight[l.id]--
	l.store.mu.Unlock()
	return nil
}

// SpendBudget implements [BudgetStore].
func (m *MemoryStore) SpendBudget(ctx context.Context, connector string, n int, counters []BudgetCounter) ([]int, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byName := m.counts[connector]
	if byName == nil {
		if m.counts == nil {
			m.counts = map[string]map[string]*memoryCount{}
		}
		byName = map[string]*memoryCount{}
		m.counts[connector] = byName
	}
	counts := make([]int, len(counters))
	ok := true
	for i, c := range counters {
		if e := byName[c.Name]; e != nil && !e.start.Before(c.Start) {
			counts[i] = e.n // this window, or a later one
		}
		if n > 0 && c.Limit > 0 && counts[i]+n > c.Limit {
			ok = false
		}
	}
	if !ok || n == 0 {
		return counts, ok, nil
	}
	for i, c := range counters {
		e := byName[c.Name]
		if e == nil || e.start.Before(c.Start) {
			e = &memoryCount{start: c.Start}
			byName[c.Name] = e
		}
		e.n += n
		counts[i] = e.n
	}
	return counts, true, nil
}

var (
	_ Store       = (*MemoryStore)(nil)
	_ BudgetStore = (*MemoryStore)(nil)
)
