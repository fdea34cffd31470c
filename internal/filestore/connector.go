package filestore

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// fileConnector is what a Store keeps in memory for one connector: its
// directories made once, its use table, its slot file names.
type fileConnector struct {
	dir     string
	keysDir string
	table   *useTable // nil when the table cannot be had: no LRU order then
	logger  *slog.Logger

	mu    sync.Mutex
	paths map[string][]string // key → slot file paths
	// held maps the slot files leased by this process to their locks. It
	// keeps each lock's descriptor reachable: were a lease dropped without
	// Release, the garbage collector would otherwise close the descriptor,
	// and so free the slot in the kernel, while this process still counts
	// it held (and its use table count says so to every other process).
	held     map[string]slotLock
	handles  map[string]*slotHandle // slot files kept open (see slotHandle)
	recLists [4]*recList            // the key lists last asked for, most recent first
	checked  map[string]bool        // slot files found regular files of this user

	// The slots per key this store leases with, declared to every process
	// by a shared flock on slotsDecl (see declareSlots); 0 until the first
	// lease.
	slots     atomic.Int64
	slotsMu   sync.Mutex
	slotsDecl *flock.Flock

	ident     dirID          // the keys directory's, when opened
	successor *fileConnector // set when the directory was made again (see reopen)
	closed    bool           // the store was closed: unmap the table when the last lease ends

	cache cachedState // guarded by the Store's mu

	counters    *counterTable // budget counters, opened at their first use; guarded by mu
	countersErr error         // why they cannot be had, if so, until countersRetry
	// countersRetry is when to try opening them again: a failure may
	// pass (EMFILE, ENOMEM), and while it lasts this process cannot see
	// what other processes count in the table.
	countersRetry time.Time

	swept atomic.Bool // temporary files of dead writers removed
	// fullWarned: the warning that the counter table had no room was given.
	fullWarned atomic.Bool
}

// slotPath returns the lock file of slot of key.
func (fc *fileConnector) slotPath(key string, slot int) string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	p := fc.paths[key]
	for len(p) <= slot {
		p = append(p, filepath.Join(fc.keysDir, safeName(key)+"."+strconv.Itoa(len(p))+".lock"))
	}
	fc.paths[key] = p
	return p[slot]
}

// slotLock is a lock on one slot file: a slotHandle kept open where
// descriptors can be, else a gofrs/flock opened for each lease.
type slotLock interface {
	TryLock() (bool, error)
	Unlock() error
	Path() string
	Stat() (fs.FileInfo, error)
}

// slotGeneration returns the connector's slot-file generation and whether
// it is known.
func (fc *fileConnector) slotGeneration() (int64, bool) {
	if fc.table == nil {
		return -1, false
	}
	return fc.table.slotGeneration()
}

// resting reports whether record r's key rests now. A rest longer than
// DeadHolderRest is damage, not believed.
func (fc *fileConnector) resting(r int) bool {
	now := time.Now()
	until := fc.table.restsUntil(r)
	return until > now.UnixNano() && until <= now.Add(DeadHolderRest).UnixNano()
}

// tryLock takes slot of key without waiting; nil, nil when it is held.
// Slots this process holds are skipped without asking the kernel.
//
// Each slot file has a second, hidden name (a hard link). If the file is
// deleted while leased, the next taker restores it from that name, so it
// locks the very file the lease holds and waits its turn, instead of
// creating a new file and using the key at the same time.
func (fc *fileConnector) tryLock(key string, slot int) (slotLock, error) {
	path := fc.slotPath(key, slot)
	fc.mu.Lock()
	if fc.held[path] != nil {
		fc.mu.Unlock()
		return nil, nil
	}
	fc.mu.Unlock()
	l := fc.slotLock(path)
	ok, err := l.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		if fc.replaced() {
			return nil, errDirReplaced
		}
		if err = fc.restoreSlot(path); err == nil {
			ok, err = l.TryLock()
		}
	}
	if err != nil || !ok {
		return nil, refusedLink(path, err)
	}
	fc.mu.Lock()
	checked := fc.checked[path]
	fc.mu.Unlock()
	if !checked {
		// Once per file and process: only this user may write in keys/.
		if err := checkLock(l); err != nil {
			return nil, err
		}
	}
	fc.mu.Lock()
	fc.held[path] = l
	fc.checked[path] = true
	fc.mu.Unlock()
	return l, nil
}

func (fc *fileConnector) unheld(path string) {
	fc.mu.Lock()
	delete(fc.held, path)
	last := fc.closed && len(fc.held) == 0
	next := fc.successor
	fc.mu.Unlock()
	if next != nil {
		next.unheldShadow(path)
	}
	if last && fc.table != nil {
		_ = fc.table.close()
	}
}

// close unmaps the connector's use table, at once or, while leases of
// this process are held on it, when the last one ends.
func (fc *fileConnector) close() error {
	fc.undeclareSlots()
	fc.mu.Lock()
	fc.closed = true
	idle := len(fc.held) == 0
	handles := make([]*slotHandle, 0, len(fc.handles))
	for _, h := range fc.handles {
		handles = append(handles, h)
	}
	fc.mu.Unlock()
	for _, h := range handles {
		h.closeIdle()
	}
	fc.mu.Lock()
	counters := fc.counters
	fc.mu.Unlock()
	if counters != nil {
		_ = counters.close()
	}
	if idle && fc.table != nil {
		return fc.table.close()
	}
	return nil
}

// restoreSlot makes the slot file at path exist: from its second name if it
// has one (the file was deleted), else as a new file with a second name.
func (fc *fileConnector) restoreSlot(path string) error {
	second := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	err := os.Link(second, path)
	switch {
	case err == nil:
		fc.logger.Warn("jongler: a lock file was deleted; restored it from its second name, so its lease still holds",
			"file", filepath.Base(path))
		return nil
	case errors.Is(err, fs.ErrExist):
		return nil // restored or created meanwhile
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
		// A new file: descriptors kept open on an old one at this path
		// are checked before they are trusted again (see slotHandle).
		if fc.table != nil {
			fc.table.bumpSlotGeneration()
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.Link(path, second); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
