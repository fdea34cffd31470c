package filestore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
)

// A state directory deleted (rm -r) or replaced under live leases takes
// their slot files with it: the leases hold flocks on files no name reaches
// any more, and the next process to lease a key makes a new file and takes
// it while the old lease still runs. The file store records the identity
// (device and inode) of each connector's keys directory when it opens it;
// when a slot file is missing it looks whether the directory is still the
// same. If it is not, this process
//
//   - warns, naming the directory;
//   - makes the directory again (with the same checks as at first);
//   - takes again, in the new slot files, every slot it holds, so that no
//     lease of this process can be doubled from the new directory; each is
//     given back when the old lease ends.
//
// What cannot be defended: the leases of other processes. Their flocks
// are on unlinked inodes (a link count of zero cannot be linked again),
// and nothing tells which: until each holder's next lease in the directory
// (when it finds the directory replaced, and takes its slots again),
// another process may lease the same key, as docs/operations.md says.

// dirID is a directory's identity.
type dirID struct {
	dev, ino uint64
	ok       bool
}

// errDirReplaced is tryLock's report that the connector's keys directory
// is gone or another.
var errDirReplaced = errors.New("the keys directory was deleted or replaced")

// identify records the identity of fc's keys directory.
func (fc *fileConnector) identify() {
	if fi, err := os.Stat(fc.keysDir); err == nil {
		fc.ident = fileID(fi)
	}
}

// replaced reports whether fc's keys directory is gone or another than
// when fc was opened.
func (fc *fileConnector) replaced() bool {
	if !fc.ident.ok {
		return false
	}
	fi, err := os.Stat(fc.keysDir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && fileID(fi) != fc.ident
}

// reopen replaces old, the connector called name whose directory was
// deleted or replaced, with one on a new directory, and takes there the
// slots this process holds (see above).
func (s *Store) reopen(ctx context.Context, old *fileConnector, name string) (*fileConnector, error) {
	s.mu.Lock()
	if s.conns[name] == old {
		delete(s.conns, name)
	}
	s.mu.Unlock()
	s.logger.Warn("jongler: the state directory was deleted or replaced under this process (its device and inode changed); made again, with this process's leases taken again in it; other processes' leases cannot be seen until they lease again",
		"dir", old.dir)
	fc, err := s.connectorIn(name)
	if err != nil {
		return nil, err
	}
	old.mu.Lock()
	paths := make([]string, 0, len(old.held))
	for p := range old.held {
		paths = append(paths, p)
	}
	old.successor = fc
	old.mu.Unlock()
	slices.Sort(paths)
	for _, p := range paths {
		if err := fc.takeOver(p); err != nil {
			s.logger.Warn("jongler: a slot held by this process could not be taken again in the new state directory", "file", p, "err", err)
		}
	}
	_ = old.close() // its table is unmapped when its last lease ends
	return fc, ctx.Err()
}

// takeOver takes, in fc's new directory, the slot file at path that a
// lease of this process holds in the deleted one. It stays held until
// that lease ends (see unheldShadow).
func (fc *fileConnector) takeOver(path string) error {
	l := fc.slotLock(path)
	ok, err := l.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		if err = fc.restoreSlot(path); err == nil {
			ok, err = l.TryLock()
		}
	}
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("leased meanwhile by another process")
	}
	fc.mu.Lock()
	fc.held[path] = l
	fc.checked[path] = true
	fc.mu.Unlock()
	return nil
}

// unheldShadow gives back the slot at path taken by takeOver.
func (fc *fileConnector) unheldShadow(path string) {
	fc.mu.Lock()
	l := fc.held[path]
	delete(fc.held, path)
	next := fc.successor
	fc.mu.Unlock()
	if l != nil {
		_ = l.Unlock()
	}
	if next != nil {
		next.unheldShadow(path) // made again more than once
	}
}
