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
	"runtime"
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
// directories made once, its use table, its keys' slot files.
type fileConnector struct {
	dir     string
	keysDir string
	table   *useTable // nil when the table cannot be had: no LRU order then
	logger  *slog.Logger

	mu       sync.Mutex
	keys     map[string]*fileKey
	lists    [4]*keyList // the key lists last asked for, most recent first
	slots    *slotFiles
	closed   atomic.Bool  // the store was closed: unmap the table when the last lease ends
	held     atomic.Int64 // leases of this process in force, and Acquires under way
	cache    cachedState  // guarded by the FileStore's mu
	swept    atomic.Bool  // temporary files of dead writers removed
	warnedLT atomic.Bool  // the use table's failure to give records was told
}

// fileKey is one key of a connector.
type fileKey struct {
	name  string
	slots atomic.Pointer[[]*slotFile] // grown under the connector's mu
}

// keyList is a list of keys as Acquire was given it, looked up once: the
// transport asks with the same list request after request.
type keyList struct {
	names []string // a copy: the caller's slice may change
	keys  []*fileKey
	recs  []int // use table records; nil if none
	epoch int64 // of the use table when recs were claimed
}

// slotFiles is every slot file of a connector, so that their descriptors
// can be closed together.
type slotFiles struct {
	mu  sync.Mutex
	all []*slotFile
}

func (sf *slotFiles) closeAll() {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	for _, s := range sf.all {
		s.close()
	}
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
	fc := &fileConnector{dir: dir, keysDir: filepath.Join(dir, "keys"), logger: s.logger,
		keys: map[string]*fileKey{}, slots: &slotFiles{}}
	if err := os.MkdirAll(fc.keysDir, 0o700); err != nil {
		return nil, fmt.Errorf("jongler: state directory: %w", err)
	}
	t, err := openUseTable(dir, s.logger)
	if err != nil {
		s.logger.Warn("jongler: no use table: keys are not chosen least recently used first", "dir", dir, "err", err)
	}
	fc.table = t
	// Close the slot files' descriptors when nothing can reach the
	// connector any more (its store and every lease on it gone).
	runtime.AddCleanup(fc, (*slotFiles).closeAll, fc.slots)
	s.conns[name] = fc
	return fc, nil
}

var errStoreClosed = errors.New("jongler: file store closed")

// list returns names looked up: keys, slot files and use table records.
func (fc *fileConnector) list(names []string) *keyList {
	var epoch int64
	if fc.table != nil {
		epoch = fc.table.epoch()
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for i, l := range fc.lists {
		if l != nil && l.epoch == epoch && sameNames(l.names, names) {
			copy(fc.lists[1:i+1], fc.lists[:i])
			fc.lists[0] = l
			return l
		}
	}
	l := &keyList{names: slices.Clone(names), keys: make([]*fileKey, len(names)), epoch: epoch}
	for i, n := range names {
		k := fc.keys[n]
		if k == nil {
			k = &fileKey{name: n}
			fc.keys[n] = k
		}
		l.keys[i] = k
	}
	if fc.table != nil {
		recs, err := fc.table.records(names)
		if err != nil {
			if !fc.warnedLT.Swap(true) {
				fc.logger.Warn("jongler: use table", "err", err)
			}
			return l // not remembered: asked again next time
		}
		l.recs = recs
	}
	copy(fc.lists[1:], fc.lists[:len(fc.lists)-1])
	fc.lists[0] = l
	return l
}

// slot returns slot i of k.
func (fc *fileConnector) slot(k *fileKey, i int) *slotFile {
	if p := k.slots.Load(); p != nil && i < len(*p) {
		return (*p)[i]
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var cur []*slotFile
	if p := k.slots.Load(); p != nil {
		cur = *p
	}
	if i < len(cur) {
		return cur[i]
	}
	grown := slices.Clone(cur)
	fc.slots.mu.Lock()
	for len(grown) <= i {
		sf := newSlotFile(filepath.Join(fc.keysDir, safeName(k.name)+"."+strconv.Itoa(len(grown))+".lock"))
		if fc.closed.Load() {
			sf.close()
		}
		grown = append(grown, sf)
		fc.slots.all = append(fc.slots.all, sf)
	}
	fc.slots.mu.Unlock()
	k.slots.Store(&grown)
	return grown[i]
}

// slotGeneration returns the connector's slot-file generation and whether
// it is known.
func (fc *fileConnector) slotGeneration() (int64, bool) {
	if fc.table == nil {
		return -1, false
	}
	return fc.table.slotGeneration()
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
	if len(keys) == 0 {
		return nil, nil
	}
	if !fc.enter() {
		return nil, errStoreClosed
	}
	l, err := s.acquire(fc, keys, max(slots, 1))
	if l == nil {
		fc.unheld()
		return nil, err
	}
	return l, err // the lease counts as held until released
}

func (s *FileStore) acquire(fc *fileConnector, keys []string, slots int) (*fileLease, error) {
	kl := fc.list(keys)
	// The least recently used key first; the others, sorted, only if it
	// cannot be had.
	first := 0
	if kl.recs != nil {
		first = fc.table.leastUsed(kl.recs)
	}
	if l, err := s.tryKey(fc, kl, first, slots); l != nil || err != nil {
		return l, err
	}
	if len(keys) == 1 {
		return nil, nil
	}
	order := make([]int, 0, len(keys)-1)
	used := make([]int64, len(keys))
	for i := range keys {
		if i != first {
			order = append(order, i)
		}
		if kl.recs != nil {
			used[i] = fc.table.load(kl.recs[i])
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(used[a], used[b]) })
	for _, i := range order {
		if l, err := s.tryKey(fc, kl, i, slots); l != nil || err != nil {
			return l, err
		}
	}
	return nil, nil
}

// tryKey leases a slot of kl's key i, or returns nil, nil.
func (s *FileStore) tryKey(fc *fileConnector, kl *keyList, i, slots int) (*fileLease, error) {
	k, rec := kl.keys[i], -1
	if kl.recs != nil {
		rec = kl.recs[i]
	}
	if rec >= 0 && fc.resting(rec) {
		return nil, nil
	}
	for slot := range slots {
		sf := fc.slot(k, slot)
		ok, err := sf.tryLock(fc)
		if err != nil {
			return nil, fmt.Errorf("jongler: lease %q: %w", k.name, err)
		}
		if !ok {
			continue
		}
		lease := &fileLease{key: k.name, slot: sf, fc: fc, rec: rec}
		if rec < 0 {
			return lease, nil
		}
		dead, nonsense := fc.table.hold(rec, slots)
		if nonsense {
			s.logger.Warn("jongler: use table held a nonsense lease count; reset", "connector", filepath.Base(fc.dir), "key", k.name)
		}
		if dead > 0 {
			fc.table.rest(rec, time.Now().Add(deadHolderRest).UnixNano())
			lease.drop()
			s.logger.Warn("jongler: a process died holding a key; the key rests, as its request may still be in flight upstream",
				"connector", filepath.Base(fc.dir), "key", k.name, "for", deadHolderRest)
			return nil, nil
		}
		// Looked at again under the flock: a taker that found a dead
		// holder sets the rest before it gives the flock back, maybe
		// after this process first looked.
		if fc.resting(rec) {
			lease.drop()
			return nil, nil
		}
		fc.table.store(rec, time.Now().UnixNano())
		return lease, nil
	}
	return nil, nil
}

// resting reports whether record r's key rests now. A rest longer than
// deadHolderRest is damage, not believed.
func (fc *fileConnector) resting(r int) bool {
	until := fc.table.restsUntil(r)
	if until == 0 {
		return false
	}
	now := time.Now()
	return until > now.UnixNano() && until <= now.Add(deadHolderRest).UnixNano()
}

// enter counts an Acquire or InFlight under way, which touches the use
// table, as a lease held; false if the store is closed.
func (fc *fileConnector) enter() bool {
	fc.held.Add(1)
	if fc.closed.Load() {
		fc.unheld()
		return false
	}
	return true
}

// unheld counts a lease of this process ended (or an Acquire done without
// one); the last one after Close unmaps the use table.
func (fc *fileConnector) unheld() {
	if fc.held.Add(-1) == 0 && fc.closed.Load() && fc.table != nil {
		_ = fc.table.close()
	}
}

// close closes the connector's slot files and unmaps its use table, at
// once or, while leases of this process are held on it, when the last one
// ends.
func (fc *fileConnector) close() error {
	fc.closed.Store(true)
	fc.slots.closeAll()
	if fc.held.Load() == 0 && fc.table != nil {
		return fc.table.close()
	}
	return nil
}

// restoreSlot makes the slot file at path exist: from its second name if it
// has one (the file was deleted), else as a new file with a second name.
//
// Each slot file has a second, hidden name (a hard link). If the file is
// deleted while leased, the next taker restores it from that name, so it
// locks the very file the lease holds and waits its turn, instead of
// creating a new file and using the key at the same time.
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
		// must be checked before they are trusted again (slotFile.lock).
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
	key      string
	slot     *slotFile
	fc       *fileConnector
	rec      int // the key's use table record; -1 if none
	released atomic.Bool
}

func (l *fileLease) Key() string { return l.key }

func (l *fileLease) Lost() <-chan struct{} { return nil }

func (l *fileLease) Release(context.Context) error {
	if l.released.Swap(true) {
		return nil
	}
	err := l.drop()
	l.fc.unheld()
	return err
}

// drop gives the slot back.
func (l *fileLease) drop() error {
	if l.rec >= 0 {
		l.fc.table.unhold(l.rec) // before the flock goes: see hold
	}
	return l.slot.unlock()
}

// InFlight implements [Store]. It probes each slot: a slot it cannot lock
// is held by a lease, here or in another process.
func (s *FileStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	fc, err := s.connector(connector)
	if err != nil {
		return nil, err
	}
	if !fc.enter() {
		return nil, errStoreClosed
	}
	defer fc.unheld()
	kl := fc.list(keys)
	out := map[string]int{}
	for i, k := range kl.keys {
		for slot := range max(slots, 1) {
			held, err := fc.slot(k, slot).probe(fc)
			if err != nil {
				return nil, fmt.Errorf("jongler: probe %q: %w", keys[i], err)
			}
			if held {
				out[k.name]++
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
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.setCache(fc, cachedState{valid: true, gen: gen, checked: now})
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jongler: state file: %w", err)
	}
	ino := inode(fi)
	if c.valid && c.mtime.Equal(fi.ModTime()) && c.size == fi.Size() && c.ino == ino {
		c.gen, c.checked = gen, now
		s.setCache(fc, c)
		return c.data, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jongler: state file: %w", err)
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
	guard := flock.New(filepath.Join(fc.dir, "state.lock"))
	if ok, err := guard.TryLock(); err != nil || !ok {
		// Busy: its holder's Update sets the file aside.
		s.logger.Warn("jongler: damaged state file read as empty", "file", path, "err", perr)
		return
	}
	defer guard.Unlock()
	data, err := os.ReadFile(path)
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
	guard := flock.New(filepath.Join(dir, "state.lock"))
	ok, err := guard.TryLockContext(ctx, time.Millisecond)
	if err != nil {
		return fmt.Errorf("jongler: state lock: %w", err)
	}
	if !ok {
		return fmt.Errorf("jongler: state lock: %w", ctx.Err())
	}
	defer guard.Unlock()
	if !fc.swept.Swap(true) {
		s.sweepTemps(dir)
	}

	path := filepath.Join(dir, "state.json")
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("jongler: state file: %w", err)
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
