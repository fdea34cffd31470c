package state

import (
	"bytes"
	"slices"
	"sync"
)

// Cache holds the last state a process read from its store or wrote,
// decoded, and the bytes it was decoded from, so that a state is decoded
// only when its bytes change and a lease costs the same with 8 keys or
// 1,000. Its generation changes when the records or the backoff do. The
// zero value is an empty cache. A Cache is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	raw     []byte
	st      *State // never modified once cached: readers share it
	damaged bool
	gen     uint64 // bumped when st's records or backoff change
}

// Load returns the state raw holds, decoded only if raw is not the bytes
// cached, and the generation of its records. A state decoded has the
// fingerprints of an older format upgraded (see Upgrade) and is cached.
// Damaged bytes read as the empty state; damaged is their decoding error
// the first time they are read after a good state, for the caller to
// warn about once. The state returned is shared: it must not be modified.
func (c *Cache) Load(raw []byte, value func(key string) (string, bool), f *Fingerprinter) (st *State, gen uint64, damaged error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		c.st = &State{}
	}
	if sameBytes(raw, c.raw) {
		// Keep the store's slice: the next look is a pointer's, not a
		// comparison of every byte.
		c.raw = raw
		return c.st, c.gen, nil
	}
	decoded, err := Decode(raw)
	if err != nil {
		if !c.damaged {
			damaged = err
		}
		decoded = State{}
	}
	decoded.Upgrade(value, f)
	c.set(raw, &decoded)
	c.damaged = err != nil
	return &decoded, c.gen, damaged
}

// Draft returns the state cur holds, to change and write: a copy of the
// cached one if cur is the bytes cached, else cur decoded (damaged bytes:
// the empty state), with the fingerprints of an older format upgraded.
func (c *Cache) Draft(cur []byte, value func(key string) (string, bool), f *Fingerprinter) State {
	st, ok := c.copyOf(cur)
	if !ok {
		var err error
		if st, err = Decode(cur); err != nil {
			st = State{}
		}
	}
	st.Upgrade(value, f)
	return st
}

// copyOf returns a copy of the cached state if raw is what it was decoded
// from.
func (c *Cache) copyOf(raw []byte) (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw == nil || !sameBytes(raw, c.raw) {
		return State{}, false
	}
	return c.st.Clone(), true
}

// Written caches st, written as raw: neither are modified after.
func (c *Cache) Written(raw []byte, st *State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(raw, st)
	c.damaged = false
}

// set caches st, decoded from raw; c.mu is held.
func (c *Cache) set(raw []byte, st *State) {
	if c.st == nil || !sameRecords(c.st, st) {
		c.gen++
	}
	c.raw, c.st = raw, st
}

// sameRecords reports whether a and b hold the same records and backoff,
// which is all the generation tells.
func sameRecords(a, b *State) bool {
	return a.Backoff.Equal(b.Backoff) && slices.EqualFunc(a.Records, b.Records, func(x, y Record) bool {
		return x.Key == y.Key && x.State == y.State && x.Model == y.Model && x.Until.Equal(y.Until) && x.Reason == y.Reason &&
			x.Fingerprint == y.Fingerprint && x.SecretID == y.SecretID
	})
}

// sameBytes reports whether a and b hold the same bytes, looking first at
// whether they are the same slice, as a store that caches returns.
func sameBytes(a, b []byte) bool {
	// Empty or absent state decodes alike.
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) || bytes.Equal(a, b)
}
