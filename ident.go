package jongler

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/fpsecret"
	"github.com/api-jongler/jongler/internal/state"
)

// A key's identity in a store is its value, told by a fingerprint (a
// keyed hash, see state.Fingerprinter) under a secret the store never
// holds; its name is for display. Records (cooldowns, refusals) are made
// for a fingerprint and hold for that value only, so that two
// configurations reusing a name on one store neither hold back nor
// forgive each other's keys. Leases stay by name: processes under
// different secrets must still share a key's slots. Before its first
// lease, and every identCheck after, a keyring claims its names in the
// store (state.Claim) and refuses to lease, naming the key and the store,
// when a name already stands there for another value in use.

// identCheck is how often a keyring checks its claim on its key names
// again: a cleanup forgets them, and a configuration that came since is
// found within this time.
const identCheck = 5 * time.Minute

// identity is what a keyring knows of its keys' identities.
type identity struct {
	fpr *state.Fingerprinter
	fps []string // the fingerprint of each key, by index in keyring.keys
	// off: the secret is this process's alone (its file could not be
	// used), so claims would compare with nobody; none are made.
	off bool

	mu      sync.Mutex
	next    atomic.Int64 // when the claim is checked again (UnixNano); 0: now
	refused atomic.Bool  // warned about a conflict
}

// fingerprintSecret returns the secret that keys the fingerprints of
// store's records: a MemoryStore's own, else the user's secret file's;
// shared is false, with a random secret, when that file cannot be used.
func fingerprintSecret(store Store, logger *slog.Logger) (secret []byte, shared bool) {
	if m, ok := store.(*MemoryStore); ok {
		return m.fingerprintSecret(), true
	}
	path, err := fpsecret.Path()
	if err == nil {
		if secret, err = fpsecret.Load(path); err == nil {
			return secret, true
		}
	}
	logger.Warn("jongler: fingerprint key file unusable; this process fingerprints key values with a secret of its own, and key names are not checked against other configurations on the store",
		"err", err)
	secret = make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand panics rather)
	return secret, false
}

func newIdentity(keys []Key, secret []byte, shared bool) *identity {
	id := &identity{fpr: state.NewFingerprinter(secret), fps: make([]string, len(keys)), off: !shared}
	for i, k := range keys {
		id.fps[i] = id.fpr.Of(k.Value)
	}
	return id
}

// record returns r made for the value of the key named name.
func (r *keyring) forValue(rec state.Record) state.Record {
	if i, ok := r.index[rec.Key]; ok {
		rec.Fingerprint, rec.SecretID = r.id.fps[i], r.id.fpr.ID()
	}
	return rec
}

// holds reports whether rec, a record of key k's name, holds for k's value.
func (r *keyring) holds(rec *state.Record, k *Key) bool {
	if rec.Fingerprint == "" {
		return true
	}
	return rec.For(r.id.fps[r.index[k.Name]], r.id.fpr.ID())
}

// claim checks, when due, that each key name stands in the store for the
// value it has here, claiming the names not claimed yet. It returns an
// error naming the first key whose name stands there for another value in
// use, and the store: requests are refused while it lasts.
func (r *keyring) claim(ctx context.Context) error {
	id := r.id
	if id.off || r.now().UnixNano() < id.next.Load() {
		return nil
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	now := r.now()
	if now.UnixNano() < id.next.Load() {
		return nil
	}
	check := func(st *state.State) (conflict string, changed bool) {
		for i, k := range r.keys {
			c, ch := st.Claim(k.Name, id.fpr.ID(), id.fps[i])
			if c {
				return k.Name, false
			}
			changed = changed || ch
		}
		return "", changed
	}
	st, err := r.load(ctx)
	if err != nil {
		return err
	}
	cp := st.Clone()
	conflict, changed := check(&cp)
	if conflict == "" && changed {
		err = r.update(ctx, func(st *state.State) error {
			if conflict, _ = check(st); conflict != "" {
				return errConflict
			}
			return nil
		})
		if err != nil && err != errConflict {
			// A store that cannot be written (a read-only state
			// directory) holds no claim to check against: requests go
			// on, as verdicts then do (see write), and the claim is
			// tried again a little later.
			r.logger.Debug("jongler: could not claim the key names in the store", "connector", r.connector, "err", err)
			id.next.Store(now.Add(time.Minute).UnixNano())
			return nil
		}
	}
	if conflict != "" {
		err := fmt.Errorf("jongler: connector %s: key %s stands for another value in the %s: another configuration on that store uses the name for another key; rename the key, give each configuration its own store, or, if this value replaced the other for good, run cleanup for the connector",
			r.connector, conflict, storeName(r.store))
		if !id.refused.Swap(true) {
			r.logger.Error(err.Error())
		}
		return err
	}
	id.refused.Store(false)
	id.next.Store(now.Add(identCheck).UnixNano())
	return nil
}

// errConflict ends an update that found a conflict: nothing is written.
var errConflict = errors.New("key name conflict")

// storeName names store in messages, without any secret.
func storeName(store Store) string {
	if s, ok := store.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("store %T", store)
}
