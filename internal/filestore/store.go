// Package filestore is the mechanics of the file store: a state directory
// that every process of the machine may share, where a lease is an
// exclusive flock on one of a key's slot files (the kernel frees it the
// moment its process dies), records live in one state file per connector,
// replaced atomically under a lock on a sidecar file, and two tables
// mapped in memory by every process keep each key's last use and the
// budget counters.
//
// Layout:
//
//	DIR/CONNECTOR/state.json        lockdown and error records
//	DIR/CONNECTOR/state.lock        guards writes of state.json
//	DIR/CONNECTOR/keys/KEY.N.lock   slot N of KEY (and .KEY.N.lock, its second name)
//	DIR/CONNECTOR/slots.N.lock      the slots per key of every live store (see slots.go)
//	DIR/CONNECTOR/use.table         each key's last lease, mapped in memory
//	DIR/CONNECTOR/budget.table      budget counters, mapped in memory
//
// Every directory and file is checked to be the user's own (see
// safety.go). File names are made from connector and key names, never
// from key values.
package filestore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Store is a state directory opened by this process. Its methods are safe
// for concurrent use.
type Store struct {
	dir    string
	logger *slog.Logger
	check  func(state []byte) error

	mu    sync.Mutex
	conns map[string]*fileConnector // by directory name
}

// DeadHolderRest is how long a key rests when the process that held it died
// mid-request. The kernel frees the lease at the process's death, in the
// same step as it closes the process's connections; the rest gives the
// upstream time to see the connection gone before another request comes
// with the key, so that it does not see two at once. It is short, so that
// a dead process's key is back at once for every practical purpose (the
// original tool's locks stayed forever).
const DeadHolderRest = 100 * time.Millisecond

// New opens (creating it with mode 0700 if need be) the state directory
// dir. Warnings about damaged files go to logger; nil discards them.
// check tells whether a state file's content is a state; a file it
// refuses is set aside as damaged (nil: any content but blanks is).
func New(dir string, logger *slog.Logger, check func(state []byte) error) (*Store, error) {
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
	if check == nil {
		check = func([]byte) error { return nil }
	}
	return &Store{dir: dir, logger: logger, check: check, conns: map[string]*fileConnector{}}, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

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

func (s *Store) connector(connector string) (*fileConnector, error) {
	return s.connectorIn(safeName(connector))
}

// connectorIn returns the connector whose directory is called name.
func (s *Store) connectorIn(name string) (*fileConnector, error) {
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

// Close unmaps the store's use tables and forgets its open connectors.
// Leases still held stay valid until released; the store must not be used
// after Close.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, fc := range s.conns {
		errs = append(errs, fc.close())
		delete(s.conns, name)
	}
	return errors.Join(errs...)
}
