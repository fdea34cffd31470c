// Package reqinfo lets the transport tell whoever sent a request what it
// did with it (the model, the name of the last key it sent with, how many
// times it sent) through the request's context, so that the proxy's access
// log can say it with no exported API, no header on the wire, and never a
// key value: only names.
package reqinfo

import (
	"context"
	"sync"
)

// Info is filled by the transport while it serves one request. It is safe
// for concurrent use.
type Info struct {
	mu       sync.Mutex
	model    string
	key      string
	attempts int
	noKey    bool
	storeErr bool
	// redact is set by the sender before the request goes: it must never
	// learn a key, not even one the upstream echoes in a successful body.
	redact bool
	// noWait is set by a sender with somewhere else to go (a router):
	// the transport neither waits for a key nor sends again after a
	// failure, and hands back at once what it has.
	noWait bool
}

type ctxKey struct{}

// NewContext returns ctx carrying i.
func NewContext(ctx context.Context, i *Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, i)
}

// FromContext returns the Info ctx carries, or nil.
func FromContext(ctx context.Context) *Info {
	i, _ := ctx.Value(ctxKey{}).(*Info)
	return i
}

// RedactBodies asks the transport to replace the key in the answer's body
// as it streams, as it does in an error answer's: the sender (the proxy)
// hands the body to a client who must never learn a key. It is called
// before the request is sent, and never after.
func (i *Info) RedactBodies() {
	if i != nil {
		i.redact = true
	}
}

// RedactsBodies reports whether RedactBodies was called.
func (i *Info) RedactsBodies() bool { return i != nil && i.redact }

// NoWait asks the transport not to wait for a key that is cooling down
// nor to send the request again after an upstream failure: it hands back
// the refusal or the failure at once, for the sender to go elsewhere. It
// is called before the request is sent, and never after.
func (i *Info) NoWait() {
	if i != nil {
		i.noWait = true
	}
}

// WaitsNot reports whether NoWait was called.
func (i *Info) WaitsNot() bool { return i != nil && i.noWait }

// SetModel records the model the request asks for.
func (i *Info) SetModel(model string) {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.model = model
	i.mu.Unlock()
}

// Attempt records one sending of the request with the key named key.
func (i *Info) Attempt(key string) {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.key = key
	i.attempts++
	i.mu.Unlock()
}

// NoKey records that no key could serve the request.
func (i *Info) NoKey() {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.noKey = true
	i.mu.Unlock()
}

// StoreFailed records that the key store failed, so that no key could be
// leased (not that the upstream failed).
func (i *Info) StoreFailed() {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.storeErr = true
	i.mu.Unlock()
}

// Snapshot is what an Info holds at one time.
type Snapshot struct {
	Model    string // the model asked for, "" if none
	Key      string // the name of the last key sent with, "" if none
	Attempts int    // how many times the request was sent upstream
	NoKey    bool   // no key could serve the request
	// StoreFailed: the key store failed, and the request was not sent.
	StoreFailed bool
}

// Snapshot returns what i holds now.
func (i *Info) Snapshot() Snapshot {
	if i == nil {
		return Snapshot{}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return Snapshot{Model: i.model, Key: i.key, Attempts: i.attempts, NoKey: i.noKey, StoreFailed: i.storeErr}
}
