package jongler

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync"
)

// A LeaseGroup makes the transports given it one holder of their keys in
// this process: while one of them holds a lease on a key's value under a
// name, the others lease that value under no other name, whatever name
// their configuration gives it. A [Store] knows keys by name only, so
// without a group a program that rebuilds its transports from a
// configuration that renamed a key (apijongler serve on SIGHUP) would
// lease the key under its new name while a stream still held it under the
// old one: two requests at once on a key allowed one. Give every
// generation of transports the same group ([WithLeaseGroup]); a request
// for the renamed key then waits, as for any key in flight, until the
// requests under its old name end.
//
// The transports of a group also take every key value any of them was
// given out of what comes back to their callers, not only their own
// connector's: an upstream that echoes another connector's key hands it to
// nobody. For that the group keeps those values in memory, as the
// transports do. It is safe for concurrent use. Create one with
// [NewLeaseGroup].
type LeaseGroup struct {
	mu     sync.Mutex
	held   map[groupKey]*groupHold
	redact redactSet // every value of the group's transports (redaction.go)
}

// groupKey is a key's value, by digest, under a connector.
type groupKey struct {
	connector string
	digest    [sha256.Size]byte
}

// groupHold is the name a value is leased under in the group, and how
// many leases hold it.
type groupHold struct {
	name string
	n    int
}

// NewLeaseGroup returns an empty LeaseGroup.
func NewLeaseGroup() *LeaseGroup { return &LeaseGroup{held: map[groupKey]*groupHold{}} }

// WithLeaseGroup makes the transport one holder of its keys with every
// other transport given g (see [LeaseGroup]).
func WithLeaseGroup(g *LeaseGroup) Option { return func(o *options) { o.group = g } }

// groupView is a keyring's part of a LeaseGroup: its keys' digests.
type groupView struct {
	g   *LeaseGroup
	ids []groupKey // by index in the keyring's keys
}

func (g *LeaseGroup) view(connector string, keys []Key) *groupView {
	v := &groupView{g: g, ids: make([]groupKey, len(keys))}
	for i, k := range keys {
		v.ids[i] = groupKey{connector, sha256.Sum256([]byte(k.Value))}
	}
	return v
}

// acquire leases a key among names from the store, as the keyring would,
// but not a key whose value the group holds under another name: the
// store's lease on it is given back unused, and another name is asked
// for. It returns a nil Lease when no other is free.
func (r *keyring) acquire(ctx context.Context, names []string) (Lease, error) {
	v := r.group
	l, err := r.store.Acquire(ctx, r.connector, names, r.slots)
	if v == nil {
		return l, err
	}
	ask := names
	for l != nil && err == nil {
		id := v.ids[r.index[l.Key()]]
		if v.g.hold(id, l.Key()) {
			return &groupLease{Lease: l, g: v.g, id: id}, nil
		}
		l.Release(context.WithoutCancel(ctx))
		ask = slices.DeleteFunc(slices.Clone(ask), func(n string) bool { return n == l.Key() })
		if len(ask) == 0 {
			return nil, nil
		}
		l, err = r.store.Acquire(ctx, r.connector, ask, r.slots)
	}
	return l, err
}

// hold counts a lease on the value id under name, and reports true,
// unless the group holds the value under another name.
func (g *LeaseGroup) hold(id groupKey, name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held[id]
	if h == nil {
		h = &groupHold{name: name}
		g.held[id] = h
	}
	if h.name != name {
		return false
	}
	h.n++
	return true
}

// groupLease is a lease counted in a LeaseGroup until released.
type groupLease struct {
	Lease
	g    *LeaseGroup
	id   groupKey
	once sync.Once
}

func (l *groupLease) Release(ctx context.Context) error {
	err := l.Lease.Release(ctx)
	l.once.Do(func() {
		l.g.mu.Lock()
		if h := l.g.held[l.id]; h != nil {
			if h.n--; h.n <= 0 {
				delete(l.g.held, l.id)
			}
		}
		l.g.mu.Unlock()
	})
	return err
}
