//go:build unix

package filestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
)

// slotHandle is a slot file kept open for the store's life, so that a
// lease is two system calls (flock to take it, flock to give it back)
// rather than five (open, the poller's refused registration, flock, flock,
// close: gofrs/flock closes the file on Unlock).
//
// Every goroutine of the process shares the descriptor, and a flock cannot
// tell them apart: taken does, in front of it. The file is opened with
// O_CLOEXEC (os.OpenFile always adds it), so that a child process started
// while a lease is held does not inherit the descriptor and keep the lease
// alive after this process dies.
type slotHandle struct {
	path  string
	fc    *fileConnector
	taken atomic.Bool
	// Only the goroutine that has taken the handle uses these.
	f   *os.File // nil when not open
	fd  int
	gen int64 // the connector's slot-file generation when f was known to be the file at path
}

// slotLock returns the handle of the slot file at path.
func (fc *fileConnector) slotLock(path string) slotLock {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	h := fc.handles[path]
	if h == nil {
		h = &slotHandle{path: path, fc: fc, gen: -1}
		fc.handles[path] = h
	}
	return h
}

func (h *slotHandle) Path() string { return h.path }

func (h *slotHandle) Stat() (fs.FileInfo, error) {
	if h.f == nil {
		return nil, fs.ErrClosed
	}
	return h.f.Stat()
}

func flockFD(fd, how int) error {
	for {
		if err := syscall.Flock(fd, how); err != syscall.EINTR {
			return err
		}
	}
}

// TryLock takes the slot without waiting: false, nil when a lease of this
// process or another holds it; an error wrapping fs.ErrNotExist when the
// file is gone (the caller restores it and tries again).
//
// A descriptor kept open may name a file the keys directory no longer
// holds: after rm -r keys/, a process started then makes new lock files,
// and a flock on the old one would exclude nobody. Every store that makes a
// lock file anew bumps the connector's slot-file generation, in the mapped
// use table, before it locks it (restoreSlot); a generation unchanged since
// the descriptor was checked says for free that no new file came, and when
// it changed, a stat tells whether the path still names the open file.
func (h *slotHandle) TryLock() (bool, error) {
	if !h.taken.CompareAndSwap(false, true) {
		return false, nil
	}
	ok, err := h.lock()
	if !ok {
		h.taken.Store(false)
	}
	return ok, err
}

func (h *slotHandle) lock() (bool, error) {
	for range 3 {
		if h.f == nil {
			h.fc.mu.Lock()
			closed := h.fc.closed
			h.fc.mu.Unlock()
			if closed {
				return false, errors.New("file store closed")
			}
			gen, _ := h.fc.slotGeneration()
			f, err := os.OpenFile(h.path, slotOpenFlag, 0)
			if err != nil {
				return false, err
			}
			h.f, h.fd, h.gen = f, int(f.Fd()), gen
		}
		if err := flockFD(h.fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if err == syscall.EWOULDBLOCK {
				return false, nil
			}
			return false, &fs.PathError{Op: "flock", Path: h.path, Err: err}
		}
		gen, known := h.fc.slotGeneration()
		if known && gen == h.gen {
			return true, nil
		}
		same, err := h.samePath()
		if same {
			h.gen = gen // -1 when unknown: checked again next time
			return true, nil
		}
		// Not the file at path any more: let it go, open the one there.
		_ = flockFD(h.fd, syscall.LOCK_UN)
		h.f.Close()
		h.f = nil
		h.fc.mu.Lock()
		delete(h.fc.checked, h.path)
		h.fc.mu.Unlock()
		if errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		if err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("lock file %s keeps being replaced", h.path)
}

// samePath reports whether the open file is the one at path.
func (h *slotHandle) samePath() (bool, error) {
	a, err := h.f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Lstat(h.path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// Unlock gives back a slot taken by TryLock; the file stays open unless
// the store was closed.
func (h *slotHandle) Unlock() error {
	err := flockFD(h.fd, syscall.LOCK_UN)
	h.fc.mu.Lock()
	closed := h.fc.closed
	h.fc.mu.Unlock()
	if err != nil || closed {
		// A descriptor whose flock would not go is closed, which ends it.
		h.f.Close()
		h.f = nil
	}
	h.taken.Store(false)
	if err != nil {
		return &fs.PathError{Op: "unlock", Path: h.path, Err: err}
	}
	return nil
}

// closeIdle closes the file if no lease holds it; a held one is closed
// when its lease ends (Unlock).
func (h *slotHandle) closeIdle() {
	if h.taken.CompareAndSwap(false, true) {
		if h.f != nil {
			h.f.Close()
			h.f = nil
		}
		h.taken.Store(false)
	}
}
