package jongler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// StateDirEnv names the environment variable that sets the state directory.
const StateDirEnv = "APIJONGLER_STATE_DIR"

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
// Layout:
//
//	DIR/CONNECTOR/state.json        lockdown and error records
//	DIR/CONNECTOR/state.lock        guards writes of state.json
//	DIR/CONNECTOR/keys/KEY.N.lock   slot N of KEY; its mtime is KEY's last use
type FileStore struct {
	dir    string
	logger *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedState // by connector
}

type cachedState struct {
	mtime time.Time
	size  int64
	ino   uint64
	state State
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
	return &FileStore{dir: dir, logger: logger, cache: map[string]cachedState{}}, nil
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

func (s *FileStore) connectorDir(connector string) string {
	return filepath.Join(s.dir, safeName(connector))
}

func (s *FileStore) slotPath(connector, key string, slot int) string {
	return filepath.Join(s.connectorDir(connector), "keys", safeName(key)+"."+strconv.Itoa(slot)+".lock")
}

func (s *FileStore) ensureKeysDir(connector string) error {
	if err := os.MkdirAll(filepath.Join(s.connectorDir(connector), "keys"), 0o700); err != nil {
		return fmt.Errorf("jongler: state directory: %w", err)
	}
	return nil
}

// Acquire implements [Store]. Keys are tried from the least recently used,
// as told by the modification time of their first slot file, which each
// lease sets to the nanosecond.
func (s *FileStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slots = max(slots, 1)
	type cand struct {
		key  string
		used int64
	}
	cands := make([]cand, len(keys))
	for i, k := range keys {
		cands[i].key = k
		if fi, err := os.Stat(s.slotPath(connector, k, 0)); err == nil {
			cands[i].used = fi.ModTime().UnixNano()
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	dirMade := false
	for _, c := range cands {
		for slot := range slots {
			path := s.slotPath(connector, c.key, slot)
			l, err := s.tryLock(path)
			if errors.Is(err, fs.ErrNotExist) && !dirMade {
				if err := s.ensureKeysDir(connector); err != nil {
					return nil, err
				}
				dirMade = true
				l, err = s.tryLock(path)
			}
			if err != nil {
				return nil, fmt.Errorf("jongler: lease %q: %w", c.key, err)
			}
			if l == nil {
				continue
			}
			now := time.Now()
			_ = os.Chtimes(s.slotPath(connector, c.key, 0), now, now)
			return &fileLease{key: c.key, lock: l, path: path, logger: s.logger}, nil
		}
	}
	return nil, nil
}

// tryLock takes the flock on path without waiting. It returns nil, nil when
// another holder has it. A lock whose file was removed or replaced while
// being taken is let go and taken again on the file now at path.
func (s *FileStore) tryLock(path string) (*flock.Flock, error) {
	for range 3 {
		l := flock.New(path)
		ok, err := l.TryLock()
		if err != nil || !ok {
			return nil, err
		}
		if samePath(l) {
			return l, nil
		}
		_ = l.Unlock()
	}
	return nil, fmt.Errorf("lock file %s keeps being replaced", filepath.Base(path))
}

// samePath reports whether the locked file is still the one at its path.
func samePath(l *flock.Flock) bool {
	held, err1 := l.Stat()
	now, err2 := os.Stat(l.Path())
	return err1 == nil && err2 == nil && os.SameFile(held, now)
}

type fileLease struct {
	key    string
	path   string
	lock   *flock.Flock
	logger *slog.Logger
	once   sync.Once
	err    error
}

func (l *fileLease) Key() string { return l.key }

func (l *fileLease) Release() error {
	l.once.Do(func() {
		if !samePath(l.lock) {
			l.logger.Warn("jongler: lock file was removed or replaced while leased; another process may have used the key at the same time",
				"key", l.key, "file", filepath.Base(l.path))
		}
		l.err = l.lock.Unlock()
	})
	return l.err
}

// InFlight implements [Store]. It probes each slot: a slot it cannot lock
// is held by a lease, here or in another process.
func (s *FileStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	out := map[string]int{}
	for _, k := range keys {
		for slot := range max(slots, 1) {
			path := s.slotPath(connector, k, slot)
			if _, err := os.Stat(path); err != nil {
				continue // never leased
			}
			l := flock.New(path)
			ok, err := l.TryLock()
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

func (s *FileStore) statePath(connector string) string {
	return filepath.Join(s.connectorDir(connector), "state.json")
}

// Load implements [Store]. The file is parsed again only when it changed.
// A damaged file is reported to the logger and read as empty; the next
// Update sets it aside as state.json.damaged before writing a new one.
func (s *FileStore) Load(ctx context.Context, connector string) (State, error) {
	path := s.statePath(connector)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("jongler: state file: %w", err)
	}
	ino := inode(fi)
	s.mu.Lock()
	c, ok := s.cache[connector]
	s.mu.Unlock()
	if ok && c.mtime.Equal(fi.ModTime()) && c.size == fi.Size() && c.ino == ino {
		return cloneState(c.state), nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("jongler: state file: %w", err)
	}
	st, err := parseState(data)
	if err != nil {
		s.logger.Warn("jongler: damaged state file read as empty", "file", path, "err", err)
		return State{}, nil
	}
	s.mu.Lock()
	s.cache[connector] = cachedState{mtime: fi.ModTime(), size: fi.Size(), ino: ino, state: st}
	s.mu.Unlock()
	return cloneState(st), nil
}

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// stateVersion is written in every state file, for readers to come.
const stateVersion = 1

type stateFile struct {
	Version int `json:"version"`
	State
}

// parseState decodes a state file, refusing unknown versions and records
// that make no sense, so that a damaged file is never half believed.
func parseState(data []byte) (State, error) {
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return State{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("invalid JSON: data after the state object")
	}
	if f.Version != stateVersion {
		return State{}, fmt.Errorf("unknown version %d", f.Version)
	}
	for i, r := range f.Records {
		if r.Key == "" {
			return State{}, fmt.Errorf("record %d: no key", i)
		}
		if r.State != StateLockdown && r.State != StateError {
			return State{}, fmt.Errorf("record %d: state %q", i, r.State)
		}
	}
	return f.State, nil
}

// Update implements [Store].
func (s *FileStore) Update(ctx context.Context, connector string, fn func(*State) error) error {
	return s.updateDir(ctx, safeName(connector), fn)
}

func (s *FileStore) updateDir(ctx context.Context, name string, fn func(*State) error) error {
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("jongler: state directory: %w", err)
	}
	guard := flock.New(filepath.Join(dir, "state.lock"))
	ok, err := guard.TryLockContext(ctx, time.Millisecond)
	if err != nil {
		return fmt.Errorf("jongler: state lock: %w", err)
	}
	if !ok {
		return fmt.Errorf("jongler: state lock: %w", ctx.Err())
	}
	defer guard.Unlock()

	path := filepath.Join(dir, "state.json")
	var st State
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("jongler: state file: %w", err)
	default:
		if st, err = parseState(data); err != nil {
			aside := path + ".damaged"
			s.logger.Warn("jongler: damaged state file set aside", "file", path, "moved_to", aside, "err", err)
			if err := os.Rename(path, aside); err != nil {
				return fmt.Errorf("jongler: state file %s is damaged and cannot be set aside: %w", path, err)
			}
			st = State{}
		}
	}
	if err := fn(&st); err != nil {
		return err
	}
	out, err := json.MarshalIndent(stateFile{Version: stateVersion, State: st}, "", "  ")
	if err != nil {
		return fmt.Errorf("jongler: state file: %w", err)
	}
	return writeAtomic(path, append(out, '\n'))
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

// Clear implements [Store]: it empties the records of connector, or of
// every connector in the directory when connector is "".
func (s *FileStore) Clear(ctx context.Context, connector string) error {
	if connector != "" {
		return s.Update(ctx, connector, clearRecords)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("jongler: state directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, e.Name(), "state.json")); err != nil {
			continue
		}
		if err := s.updateDir(ctx, e.Name(), clearRecords); err != nil {
			return err
		}
	}
	return nil
}

func clearRecords(st *State) error {
	st.Records = nil
	st.Backoff = time.Time{}
	return nil
}

var _ Store = (*FileStore)(nil)
