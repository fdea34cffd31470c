//go:build !unix

package jongler

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/gofrs/flock"
)

// slotFile is one slot of a key: its lock file, opened for each lease.
// taken keeps leases of this process apart, in front of the lock.
type slotFile struct {
	path   string
	taken  atomic.Bool
	closed atomic.Bool
	lk     *flock.Flock // the lock of the lease in force
}

func newSlotFile(path string) *slotFile { return &slotFile{path: path} }

func (s *slotFile) tryLock(fc *fileConnector) (bool, error) {
	if s.closed.Load() || !s.taken.CompareAndSwap(false, true) {
		return false, nil
	}
	ok, err := s.lock(fc, true)
	if !ok {
		s.taken.Store(false)
	}
	return ok, err
}

func (s *slotFile) lock(fc *fileConnector, create bool) (bool, error) {
	l := flock.New(s.path, flock.SetFlag(os.O_RDONLY))
	ok, err := l.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return false, nil
		}
		if err = fc.restoreSlot(s.path); err == nil {
			ok, err = l.TryLock()
		}
	}
	if err != nil || !ok {
		return false, err
	}
	s.lk = l
	return true, nil
}

func (s *slotFile) unlock() error {
	err := s.lk.Unlock()
	s.lk = nil
	s.taken.Store(false)
	return err
}

func (s *slotFile) probe(fc *fileConnector) (bool, error) {
	if !s.taken.CompareAndSwap(false, true) {
		return true, nil
	}
	l := flock.New(s.path, flock.SetFlag(os.O_RDONLY))
	ok, err := l.TryLock()
	s.taken.Store(false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ok {
		_ = l.Unlock()
	}
	return !ok, nil
}

func (s *slotFile) close() { s.closed.Store(true) }
