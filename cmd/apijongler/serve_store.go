package main

import (
	"strings"

	"github.com/api-jongler/jongler"
)

// memoryStoreURL names, for serve only, a store in the process's memory:
// key states shared with no other process and lost at exit, for a serve
// that is the only user of its keys.
const memoryStoreURL = "memory:"

// openServeStore is openStoreAt for serve, which also takes
// --store memory: (a jongler.MemoryStore).
func (a *app) openServeStore() (jongler.Store, string, func(), error) {
	raw, err := a.storeURL()
	if err != nil {
		return nil, "", nil, err
	}
	if strings.EqualFold(strings.TrimSpace(raw), memoryStoreURL) {
		return jongler.NewMemoryStore(), "memory (this process only)", func() {}, nil
	}
	return a.openStoreAt()
}
