package jongler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/api-jongler/jongler/internal/filestore"
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
	fs *filestore.Store // the mechanics, in internal/filestore
}

var (
	_ Store       = (*FileStore)(nil)
	_ BudgetStore = (*FileStore)(nil)
)

// deadHolderRest is how long a key rests when the process that held it
// died mid-request; the transport rests an abandoned key as long.
const deadHolderRest = filestore.DeadHolderRest

// NewFileStore opens (creating it with mode 0700 if need be) the state
// directory dir. Warnings about damaged files go to logger; nil discards them.
func NewFileStore(dir string, logger *slog.Logger) (*FileStore, error) {
	fs, err := filestore.New(dir, logger, func(data []byte) error {
		_, err := decodeState(data) // a state file is one the transport wrote
		return err
	})
	if err != nil {
		return nil, err
	}
	return &FileStore{fs: fs}, nil
}

// Dir returns the state directory.
func (s *FileStore) Dir() string { return s.fs.Dir() }

// String names the store in messages: its state directory.
func (s *FileStore) String() string { return "file store " + s.fs.Dir() }

// Acquire implements [Store]. Keys are tried from the least recently used
// by any process, as told by the use table.
func (s *FileStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (Lease, error) {
	l, err := s.fs.Acquire(ctx, connector, keys, slots)
	if l == nil {
		return nil, err // a nil *filestore.Lease is no nil Lease
	}
	return l, err
}

// InFlight implements [Store]. It probes each slot: a slot it cannot lock
// is held by a lease, here or in another process.
func (s *FileStore) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	return s.fs.InFlight(ctx, connector, keys, slots)
}

// Load implements [Store]. The file is read again only when it changed.
// A damaged file is read as empty and set aside as state.json.damaged,
// with one warning; if it cannot be set aside it is read as empty, without
// more warnings, until it changes.
func (s *FileStore) Load(ctx context.Context, connector string) ([]byte, error) {
	return s.fs.Load(ctx, connector)
}

// Update implements [Store]. A damaged state file is set aside and fn
// given no state.
func (s *FileStore) Update(ctx context.Context, connector string, fn func([]byte) ([]byte, error)) error {
	return s.fs.Update(ctx, connector, fn)
}

// SpendBudget implements [BudgetStore]: the counters live in
// DIR/CONNECTOR/budget.table, mapped in memory by every process and
// guarded by a flock. When the table has no room for a counter or
// cannot be had, the transport counts in state.json instead.
func (s *FileStore) SpendBudget(ctx context.Context, connector string, n int, counters []BudgetCounter) ([]int, bool, error) {
	var buf [4]filestore.Counter
	cs := buf[:0]
	for _, c := range counters {
		cs = append(cs, filestore.Counter(c))
	}
	counts, ok, err := s.fs.SpendBudget(ctx, connector, n, cs)
	if errors.Is(err, filestore.ErrNoCounterRoom) {
		err = noCounterRoom{err: err}
	}
	return counts, ok, err
}

// noCounterRoom is the file store's ErrNoCounterRoom, told as
// errNoCounterRoom, which the keyring looks for.
type noCounterRoom struct{ err error }

func (e noCounterRoom) Error() string        { return e.err.Error() }
func (e noCounterRoom) Is(target error) bool { return target == errNoCounterRoom }
func (e noCounterRoom) Unwrap() error        { return e.err }

// Close unmaps the store's use tables and forgets its open connectors.
// Leases still held stay valid until released; the store must not be used
// after Close.
func (s *FileStore) Close() error { return s.fs.Close() }

// openFileStore opens the file store a transport keeps its state in when
// no WithStore is given: in dir, or the default state directory.
func openFileStore(dir string, logger *slog.Logger) (*FileStore, error) {
	if dir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return NewFileStore(dir, logger)
}
