// Package transporttest holds the checks that tests driving a
// jongler.Transport from outside share across the module's packages.
package transporttest

import (
	"context"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// InFlight returns how many leases tr holds now, over all its keys.
func InFlight(t testing.TB, tr *jongler.Transport) int {
	t.Helper()
	ks, err := tr.KeyStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ks.Keys {
		n += d.InFlight
	}
	return n
}

// WaitNoneInFlight fails t unless every key of tr is free within 10 s: no
// lease of tr outlives the answers its caller closed, a dead holder's rest
// included.
func WaitNoneInFlight(t testing.TB, tr *jongler.Transport) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if InFlight(t, tr) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ks, _ := tr.KeyStates(context.Background())
			t.Fatalf("keys still in flight 10 s after the answer was closed: %+v", ks)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
