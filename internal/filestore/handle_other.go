//go:build !unix

package filestore

import "github.com/gofrs/flock"

// slotHandle is unused here: lock files are opened for each lease.
type slotHandle struct{}

func (h *slotHandle) closeIdle() {}

// slotLock returns a lock on the slot file at path, opened anew.
func (fc *fileConnector) slotLock(path string) slotLock {
	return flock.New(path, flock.SetFlag(slotOpenFlag))
}
