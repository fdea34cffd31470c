package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// cachedState is a connector's state file as last read.
type cachedState struct {
	valid   bool
	gen     int64     // use table generation when read
	checked time.Time // when the file was last looked at
	mtime   time.Time
	size    int64
	ino     uint64
	data    []byte // the file's content; nil when absent or damaged
}

// revalidateAfter bounds how long a cached state is trusted on the use
// table's word alone; after it the file is looked at, in case something
// other than a Store changed it.
const revalidateAfter = time.Second

// Load returns connector's state file, nil if there is none. The file is
// read again only when it changed. A damaged file is read as empty and set
// aside as state.json.damaged, with one warning; if it cannot be set aside
// it is read as empty, without more warnings, until it changes.
func (s *Store) Load(ctx context.Context, connector string) ([]byte, error) {
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
	if err := s.checkStateFile(data); err != nil {
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
func (s *Store) checkStateFile(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty file")
	}
	return s.check(data)
}

// healDamaged sets the damaged state file at path aside, if the state lock
// is free and the file is still damaged under it, and warns.
func (s *Store) healDamaged(fc *fileConnector, path string, perr error) {
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
	if s.checkStateFile(data) == nil {
		return // replaced meanwhile
	}
	if err := s.setAside(fc, path, perr); err != nil {
		s.logger.Warn("jongler: damaged state file read as empty", "file", path, "err", perr, "set_aside", err)
	}
}

// setAside renames the damaged state file at path to path.damaged, under
// the state lock, and warns.
func (s *Store) setAside(fc *fileConnector, path string, perr error) error {
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

func (s *Store) setCache(fc *fileConnector, c cachedState) {
	s.mu.Lock()
	fc.cache = c
	s.mu.Unlock()
}

// Update replaces connector's state file by what fn makes of its content
// (nil if there is none), under the state lock. A damaged state file is set
// aside and fn given no state.
func (s *Store) Update(ctx context.Context, connector string, fn func([]byte) ([]byte, error)) error {
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
		if err := s.checkStateFile(data); err != nil {
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
func (s *Store) sweepTemps(dir string) {
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
