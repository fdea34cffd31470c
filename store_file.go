package jongler

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// DefaultStateDir returns the state directory used when none is given:
// $APIJONGLER_STATE_DIR if set, else $XDG_STATE_HOME/apijongler, else
// ~/.local/state/apijongler on Unix-like systems and the user cache
// directory's apijongler folder elsewhere.
func DefaultStateDir() (string, error) {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "apijongler"), nil
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" && filepath.Separator == '/' {
		return filepath.Join(home, ".local", "state", "apijongler"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("jongler: no state directory: set %s", StateDirEnv)
	}
	return filepath.Join(d, "apijongler"), nil
}

// FileStore is a [Store] kept in a directory that every process of the
// machine may share. A lease is an exclusive flock on one of the key's
// slot files, so the kernel releases it the moment its process dies: there
// are no stale locks. Records live in one JSON file per connector, replaced
// atomically and guarded by a lock on a sidecar file that is never renamed.
// File names are made from connector and key names, never from key values.
//
// When a process dies holding a lease, the kernel gives the lease back at
// once, but the upstream may still be serving the dead process's request
// until it sees the connection close: the next taker of the key finds
// that the key's last holder died (see the use table) and lets the key
// rest for 100ms before anyone uses it again.
//
// Layout:
//
//	DIR/CONNECTOR/state.json        lockdown and error records
//	DIR/CONNECTOR/state.lock        guards writes of state.json
//	DIR/CONNECTOR/keys/KEY.N.lock   slot N of KEY
//	DIR/CONNECTOR/use.table         each key's last lease, mapped in memory
//	DIR/CONNECTOR/budget.table      budget counters, mapped in memory (see SpendBudget)
type FileStore struct {
	dir    string
	logger *slog.Logger

	mu    sync.Mutex
	conns map[string]*fileConnector // by directory name
}

// deadHolderRest is how long a key rests when the process that held it died
// mid-request. The kernel frees the lease at the process's death, in the
// same step as it closes the process's connections; the rest gives the
// upstream time to see the connection gone before another request comes
// with the key, so that it does not see two at once. It is short, so that
// a dead process's key is back at once for every practical purpose (the
// original tool's locks stayed forever).
const deadHolderRest = 100 * time.Millisecond

type cachedState struct {
	valid   bool
	gen     int64     // use table generation when read
	checked time.Time // when the file was last looked at
	mtime   time.Time
	size    int64
	ino     uint64
	data    []byte // the file's content; nil when absent or damaged
}

// NewFileStore opens (creating it with mode 0700 if need be) the state
// directory dir. Warnings about damaged files go to logger; nil discards them.
func NewFileStore(dir string, logger *slog.Logger) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("jongler: file store: empty state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jongler: state directory: %w", err)
	}
	if err := ownDir(dir, true); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FileStore{dir: dir, logger: logger, conns: map[string]*fileConnector{}}, nil
}

// Dir returns the state directory.
func (s *FileStore) Dir() string { return s.dir }

// safeName turns a connector or key name into a file name: names made only
// of letters, digits, '.', '-' and '_' stay as they are; others are cleaned
// and suffixed with a hash of the name.
func safeName(name string) string {
	ok := name != "" && name[0] != '.' && len(name) <= 64
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			ok = false
			break
		}
	}
	if ok {
		return name
	}
	clean := make([]byte, 0, len(name))
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			clean = append(clean, c)
		}
		if len(clean) == 32 {
			break
		}
	}
	sum := sha256.Sum256([]byte(name))
	return string(clean) + "~" + hex.EncodeToString(sum[:6])
}

// fileConnector is what a FileStore keeps in memory for one connector: its
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

	cache cachedState // guarded by the FileStore's mu

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

func (s *FileStore) connector(connector string) (*fileConnector, error) {
	return s.connectorIn(safeName(connector))
}

// connectorIn returns the connector whose directory is called name.
func (s *FileStore) connectorIn(name string) (*fileConnector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fc, ok := s.conns[name]; ok {
		return fc, nil
	}
	dir := filepath.Join(s.dir, name)
	fc := &fileConnector{dir: dir, keysDir: filepath.Join(dir, "keys"), logger: s.logger, paths: map[string][]string{}, held: map[string]slotLock{}, handles: map[string]*slotHandle{}, checked: map[string]bool{}}
	if err := os.MkdirAll(fc.keysDir, 0o700); err != nil {
		return nil, fmt.Errorf("jongler: state directory: %w", err)
	}
	for _, d := range []string{dir, fc.keysDir} {
		if err := ownDir(d, false); err != nil {
			return nil, err
		}
	}
	fc.identify()
	t, err := openUseTable(dir, s.logger)
	if isRefusal(err) {
		return nil, err
	}
	if err != nil {
		s.logger.Warn("jongler: no use table: keys are not chosen least recently used first", "dir", dir, "err", err)
	}
	fc.table = t
	s.conns[name] = fc
	return fc, nil
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

// Acquire implements [Store]. Keys are tried from the least recently used
// by any process, as told by the use table.
func (s *FileStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	if err := fc.declareSlots(ctx, max(slots, 1)); err != nil {
		return nil, err
	}
	var recs []int
	if fc.table != nil {
		if recs, err = fc.records(ctx, keys); isRefusal(err) || ctx.Err() != nil {
			return nil, err
		} else if err != nil {
			s.logger.Warn("jongler: use table", "err", err)
			recs = nil
		}
	}
	candAt := func(i int) fileCand {
		if recs == nil {
			return fileCand{keys[i], -1}
		}
		return fileCand{keys[i], recs[i]}
	}
	// The least recently used key first; the others, sorted, only if it
	// cannot be had.
	first := 0
	if recs != nil {
		first = fc.table.leastUsed(recs)
	}
	cands := []fileCand{candAt(first)}
	slots = max(slots, 1)
	now := time.Now()
	for pass := 0; pass < 2 && len(cands) > 0; pass++ {
		if pass == 1 {
			cands = cands[:0]
			for i := range keys {
				if i != first {
					cands = append(cands, candAt(i))
				}
			}
			if recs != nil {
				used := make([]int64, len(recs))
				fc.table.loadAll(recs, used)
				stamp := make(map[string]int64, len(keys))
				for i, k := range keys {
					stamp[k] = used[i]
				}
				slices.SortStableFunc(cands, func(a, b fileCand) int { return cmp.Compare(stamp[a.key], stamp[b.key]) })
			}
		}
	next:
		for _, c := range cands {
			if c.rec >= 0 && fc.resting(c.rec) {
				continue
			}
			for slot := range slots {
				l, err := fc.tryLock(c.key, slot)
				if errors.Is(err, errDirReplaced) {
					if _, err := s.reopen(ctx, fc, safeName(connector)); err != nil {
						return nil, err
					}
					return s.Acquire(ctx, connector, keys, slots)
				}
				if err != nil {
					return nil, fmt.Errorf("jongler: lease %q: %w", c.key, err)
				}
				if l == nil {
					continue
				}
				lease := &fileLease{key: c.key, lock: l, fc: fc, rec: c.rec}
				if c.rec < 0 {
					return lease, nil
				}
				dead, nonsense := fc.table.hold(c.rec, slots)
				if nonsense {
					s.logger.Warn("jongler: use table held a nonsense lease count; reset", "connector", connector, "key", c.key)
				}
				if dead > 0 {
					fc.table.rest(c.rec, time.Now().Add(deadHolderRest).UnixNano())
					lease.Release(ctx)
					s.logger.Warn("jongler: a process died holding a key; the key rests, as its request may still be in flight upstream",
						"connector", connector, "key", c.key, "for", deadHolderRest)
					continue next
				}
				// Looked at again under the flock: a taker that found a dead
				// holder sets the rest before it gives the flock back, maybe
				// after this process first looked.
				if fc.resting(c.rec) {
					lease.Release(ctx)
					continue next
				}
				fc.table.store(c.rec, now.UnixNano())
				return lease, nil
			}
		}
	}
	return nil, nil
}

// fileCand is a key Acquire may lease, and its use table record (-1 if
// none).
type fileCand struct {
	key string
	rec int
}

// records returns the use table records of keys, looked up once per key
// list: the transport asks with the same list request after request.
func (fc *fileConnector) records(ctx context.Context, keys []string) ([]int, error) {
	epoch := fc.table.epoch()
	fc.mu.Lock()
	for i, l := range fc.recLists {
		if l != nil && l.epoch == epoch && sameNames(l.names, keys) {
			copy(fc.recLists[1:i+1], fc.recLists[:i])
			fc.recLists[0] = l
			fc.mu.Unlock()
			return l.recs, nil
		}
	}
	fc.mu.Unlock()
	recs, err := fc.table.records(ctx, keys)
	if err != nil {
		return nil, err
	}
	l := &recList{names: slices.Clone(keys), recs: recs, epoch: epoch}
	fc.mu.Lock()
	copy(fc.recLists[1:], fc.recLists[:len(fc.recLists)-1])
	fc.recLists[0] = l
	fc.mu.Unlock()
	return recs, nil
}

// recList is a key list with its use table records.
type recList struct {
	names []string // a copy: the caller's slice may change
	recs  []int    // shared: never modified
	epoch int64    // of the use table when looked up
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
// deadHolderRest is damage, not believed.
func (fc *fileConnector) resting(r int) bool {
	now := time.Now()
	until := fc.table.restsUntil(r)
	return until > now.UnixNano() && until <= now.Add(deadHolderRest).UnixNano()
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

type fileLease struct {
	key  string
	lock slotLock
	fc   *fileConnector
	rec  int // the key's use table record; -1 if none
	once sync.Once
	err  error
}

func (l *fileLease) Key() string { return l.key }

func (l *fileLease) Lost() <-chan struct{} { return nil }

func (l *fileLease) Release(context.Context) error {
	l.once.Do(func() {
		if l.rec >= 0 {
			l.fc.table.unhold(l.rec) // before the flock goes: see hold
		}
		l.err = l.lock.Unlock()
		l.fc.unheld(l.lock.Path())
	})
	return l.err
}

// InFlight implements [Store]. It probes each slot: a slot it cannot lock
// is held by a lease, here or in another process.
func (s *FileStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, k := range keys {
		for slot := range max(slots, 1) {
			l := flock.New(fc.slotPath(k, slot), flock.SetFlag(slotOpenFlag))
			ok, err := l.TryLock()
			if errors.Is(err, fs.ErrNotExist) {
				continue // never leased (probing makes no file)
			}
			if err != nil {
				return nil, fmt.Errorf("jongler: probe %q: %w", k, err)
			}
			if ok {
				_ = l.Unlock()
			} else {
				out[k]++
			}
		}
	}
	return out, nil
}

// Load implements [Store]. The file is read again only when it changed.
// A damaged file is read as empty and set aside as state.json.damaged,
// with one warning; if it cannot be set aside it is read as empty, without
// more warnings, until it changes.
func (s *FileStore) Load(ctx context.Context, connector string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	gen := int64(-1)
	if fc.table != nil {
		gen = fc.table.generation()
	}
	now := time.Now()
	s.mu.Lock()
	c := fc.cache
	s.mu.Unlock()
	if c.valid && gen >= 0 && c.gen == gen && now.Sub(c.checked) < revalidateAfter {
		return c.data, nil
	}
	path := filepath.Join(fc.dir, "state.json")
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.setCache(fc, cachedState{valid: true, gen: gen, checked: now})
		return nil, nil
	}
	if err == nil {
		err = ownFile(path, fi)
	}
	if err != nil {
		return nil, refusedLink(path, err)
	}
	ino := inode(fi)
	if c.valid && c.mtime.Equal(fi.ModTime()) && c.size == fi.Size() && c.ino == ino {
		c.gen, c.checked = gen, now
		s.setCache(fc, c)
		return c.data, nil
	}
	data, err := readOwnFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := checkStateFile(data); err != nil {
		s.healDamaged(fc, path, err)
		// Remembered as empty while it stays as it is, so that it is
		// neither read nor warned about again.
		s.setCache(fc, cachedState{valid: true, gen: gen, checked: now, mtime: fi.ModTime(), size: fi.Size(), ino: ino})
		return nil, nil
	}
	s.setCache(fc, cachedState{valid: true, gen: gen, checked: now, mtime: fi.ModTime(), size: fi.Size(), ino: ino, data: data})
	return data, nil
}

// checkStateFile reports whether data, a state file's content, is a state
// as the transport writes it: the file store is the transport's own, and
// sets aside what is not, for a person to see.
func checkStateFile(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty file")
	}
	_, err := decodeState(data)
	return err
}

// healDamaged sets the damaged state file at path aside, if the state lock
// is free and the file is still damaged under it, and warns.
func (s *FileStore) healDamaged(fc *fileConnector, path string, perr error) {
	guard := newStateLock(filepath.Join(fc.dir, "state.lock"))
	if ok, err := guard.TryLock(); err != nil || !ok || checkLock(guard) != nil {
		// Busy (its holder's Update sets the file aside) or refused.
		s.logger.Warn("jongler: damaged state file read as empty", "file", path, "err", perr)
		return
	}
	defer guard.Unlock()
	data, err := readOwnFile(path)
	if err != nil {
		return // gone meanwhile
	}
	if checkStateFile(data) == nil {
		return // replaced meanwhile
	}
	if err := s.setAside(fc, path, perr); err != nil {
		s.logger.Warn("jongler: damaged state file read as empty", "file", path, "err", perr, "set_aside", err)
	}
}

// setAside renames the damaged state file at path to path.damaged, under
// the state lock, and warns.
func (s *FileStore) setAside(fc *fileConnector, path string, perr error) error {
	aside := path + ".damaged"
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	s.logger.Warn("jongler: damaged state file set aside; the keys' records start afresh", "file", path, "moved_to", aside, "err", perr)
	if fc.table != nil {
		fc.table.bump()
	}
	return nil
}

// revalidateAfter bounds how long a cached state is trusted on the use
// table's word alone; after it the file is looked at, in case something
// other than a FileStore changed it.
const revalidateAfter = time.Second

func (s *FileStore) setCache(fc *fileConnector, c cachedState) {
	s.mu.Lock()
	fc.cache = c
	s.mu.Unlock()
}

// Update implements [Store]. A damaged state file is set aside and fn
// given no state.
func (s *FileStore) Update(ctx context.Context, connector string, fn func([]byte) ([]byte, error)) error {
	fc, err := s.connector(connector)
	if err != nil {
		return err
	}
	dir := fc.dir
	lockPath := filepath.Join(dir, "state.lock")
	guard := newStateLock(lockPath)
	ok, err := guard.TryLockContext(ctx, time.Millisecond)
	if err != nil {
		if err := refusedLink(lockPath, err); isRefusal(err) {
			return err
		}
		return fmt.Errorf("jongler: state lock: %w", err)
	}
	if !ok {
		return fmt.Errorf("jongler: state lock: %w", ctx.Err())
	}
	if err := checkLock(guard); err != nil {
		return err
	}
	defer guard.Unlock()
	if !fc.swept.Swap(true) {
		s.sweepTemps(dir)
	}

	path := filepath.Join(dir, "state.json")
	data, err := readOwnFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := checkStateFile(data); err != nil {
			if err := s.setAside(fc, path, err); err != nil {
				return fmt.Errorf("jongler: state file %s is damaged and cannot be set aside: %w", path, err)
			}
			data = nil
		}
	}
	out, err := fn(data)
	if err != nil {
		return err
	}
	if err := writeAtomic(path, out); err != nil {
		return err
	}
	if fc.table != nil {
		fc.table.bump()
	}
	return nil
}

// sweepTemps removes the temporary state files in dir, which only writers
// that died mid-write leave: every write happens under the state lock,
// which the caller holds. It runs once per process and connector.
func (s *FileStore) sweepTemps(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, ".state-*.tmp"))
	for _, n := range names {
		if err := os.Remove(n); err == nil {
			s.logger.Debug("jongler: removed a temporary state file left by a dead writer", "file", n)
		}
	}
}

// writeAtomic replaces path with data so that readers see the old file or
// the new one, never a part.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*.tmp")
	if err != nil {
		return fmt.Errorf("jongler: state file: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, 0o600)
	}
	if err == nil {
		// The kernel stamps files with a coarse clock; a stamp to the
		// nanosecond lets Load tell two quick writes apart.
		now := time.Now()
		err = os.Chtimes(name, now, now)
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("jongler: state file: %w", err)
	}
	return nil
}

// Close unmaps the store's use tables and forgets its open connectors.
// Leases still held stay valid until released; the store must not be used
// after Close.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, fc := range s.conns {
		errs = append(errs, fc.close())
		delete(s.conns, name)
	}
	return errors.Join(errs...)
}

var _ Store = (*FileStore)(nil)
