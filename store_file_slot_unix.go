//go:build unix

package jongler

import (
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"syscall"
)

// slotFile is one slot of a key: its lock file, opened once and kept open
// for the store's life, so that a lease is two system calls (flock to take
// it, flock to give it back) rather than five (open, the poller's refused
// registration, flock, flock, close).
//
// A flock is held by an open file, and every goroutine of the process
// shares the descriptor, so the kernel cannot keep two leases of one
// process apart: taken does, in front of the flock.
//
// The descriptor is opened with O_CLOEXEC, so that a child process started
// while a lease is held does not inherit it and keep the lease alive after
// this process dies, and O_NOFOLLOW, so that a symbolic link put in the
// keys directory is refused rather than followed.
type slotFile struct {
	path   string
	taken  atomic.Bool // a lease or probe of this process has the slot
	closed atomic.Bool // the store is closed: the descriptor goes at unlock
	// Only the goroutine that has taken the slot uses these.
	fd  int   // the open lock file; -1 if none
	gen int64 // the connector's slot-file generation when fd was known to be the file at path
}

func newSlotFile(path string) *slotFile { return &slotFile{path: path, fd: -1, gen: -1} }

const slotOpenFlags = syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func openSlotFD(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, slotOpenFlags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func flockFD(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// tryLock takes the slot without waiting: false, nil when a lease of this
// process or of another holds it. A missing lock file is made (restored
// from its second name if it has one).
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

// lock takes the flock of the slot, which this goroutine has taken. The
// descriptor may be older than the file at path: after the keys directory
// was removed, another store makes new lock files, and a flock on the old
// one would exclude nobody. Every store that makes a lock file anew bumps
// the connector's slot-file generation (in the mapped use table) before it
// locks it, so a generation unchanged since the descriptor was checked
// says, for free, that no new file has come; when it changed, a stat tells.
func (s *slotFile) lock(fc *fileConnector, create bool) (bool, error) {
	for range 3 {
		if s.fd < 0 {
			gen, _ := fc.slotGeneration()
			fd, err := openSlotFD(s.path)
			if err == syscall.ENOENT && create {
				if err = fc.restoreSlot(s.path); err == nil {
					fd, err = openSlotFD(s.path)
				}
			}
			if err != nil {
				if err == syscall.ENOENT && !create {
					return false, nil
				}
				return false, pathError("open", s.path, err)
			}
			s.fd, s.gen = fd, gen
		}
		if err := flockFD(s.fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if err == syscall.EWOULDBLOCK {
				return false, nil
			}
			return false, pathError("flock", s.path, err)
		}
		gen, known := fc.slotGeneration()
		if known && gen == s.gen {
			return true, nil
		}
		same, err := sameFile(s.fd, s.path)
		if same {
			s.gen = gen // -1 when unknown: checked again next time
			return true, nil
		}
		// Not the file at path any more: let it go, open the one there.
		_ = flockFD(s.fd, syscall.LOCK_UN)
		syscall.Close(s.fd)
		s.fd, s.gen = -1, -1
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, pathError("stat", s.path, err)
		}
	}
	return false, fmt.Errorf("lock file %s keeps being replaced", s.path)
}

// unlock gives back a slot taken by tryLock.
func (s *slotFile) unlock() error {
	err := flockFD(s.fd, syscall.LOCK_UN)
	if err != nil || s.closed.Load() {
		// A descriptor whose flock would not go is closed, which ends it.
		syscall.Close(s.fd)
		s.fd, s.gen = -1, -1
	}
	s.taken.Store(false)
	if err != nil {
		return pathError("unlock", s.path, err)
	}
	return nil
}

// probe reports whether a lease, of this process or another, holds the
// slot. It makes no lock file.
func (s *slotFile) probe(fc *fileConnector) (bool, error) {
	if !s.taken.CompareAndSwap(false, true) {
		return true, nil
	}
	ok, err := s.lock(fc, false)
	if ok {
		err = s.unlock()
	} else {
		s.taken.Store(false)
	}
	if err != nil {
		return false, err
	}
	return !ok && s.fd >= 0, nil
}

// close closes the descriptor now if the slot is free, else at unlock.
func (s *slotFile) close() {
	s.closed.Store(true)
	if s.taken.CompareAndSwap(false, true) {
		if s.fd >= 0 {
			syscall.Close(s.fd)
			s.fd = -1
		}
		// taken stays set: a closed store leases nothing.
	}
}

// sameFile reports whether the file open as fd is the one at path.
func sameFile(fd int, path string) (bool, error) {
	var a, b syscall.Stat_t
	if err := syscall.Fstat(fd, &a); err != nil {
		return false, err
	}
	if err := syscall.Lstat(path, &b); err != nil {
		if err == syscall.ENOENT {
			return false, fs.ErrNotExist
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

func pathError(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}
