package filestore

import (
	"io"
	"io/fs"
	"os"

	"github.com/gofrs/flock"

	"github.com/api-jongler/jongler/internal/fsguard"
)

// The state directory is the user's own: a directory someone else owns,
// or may write in, lets that someone plant files (symbolic links to the
// user's files, above all) that the store would then open, grow, lock and
// write as the user; a root process using such a directory would do it to
// any file of the machine. So, as ssh's StrictModes does, the file store
// refuses a state directory, connector directory or keys directory that is
// not owned by the current user (or root) or that group or others may
// write; and it opens every state file without following a symbolic link
// (O_NOFOLLOW), refusing one that is not a regular file of the user.
// Temporary files are made with O_EXCL, which follows no link either, and
// renamed over state.json, which replaces a link rather than its target.

// stateFileFlag is added to every open of a state file: no symbolic link
// is followed, no descriptor leaks to a child, and a FIFO planted where a
// file should be does not block the open.
const stateFileFlag = fsguard.OpenFlag

// slotOpenFlag opens slot files for a lease. O_NONBLOCK changes nothing for
// a regular file nor for flock, which waits or not by LOCK_NB alone; but it
// spares os.OpenFile the four fcntl calls it makes otherwise (to make the
// descriptor non-blocking for the poller, which refuses regular files, and
// back), nearly half of the system calls of a lease. O_NOFOLLOW: a slot
// file is never a symbolic link (see ownDir). Both are 0 off Unix.
const slotOpenFlag = os.O_RDONLY | fsguard.NonBlock | fsguard.NoFollow

// openOwnFile opens the state file at path with flag (stateFileFlag
// added) and refuses it unless it is a regular file of this user.
func openOwnFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|stateFileFlag, perm)
	if err != nil {
		return nil, refusedLink(path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = ownFile(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readOwnFile reads the state file at path as os.ReadFile would, refusing
// it unless it is a regular file of this user.
func readOwnFile(path string) ([]byte, error) {
	f, err := openOwnFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// newStateLock returns a flock on the lock file at path (made if need be)
// that follows no symbolic link; once locked, checkLock checks the file.
func newStateLock(path string) *flock.Flock {
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDONLY|stateFileFlag), flock.SetPermissions(0o600))
}

// checkLock refuses the lock file of l, which l holds, unless it is a
// regular file of this user; l is unlocked if so.
func checkLock(l interface {
	Stat() (fs.FileInfo, error)
	Path() string
	Unlock() error
}) error {
	fi, err := l.Stat()
	if err == nil {
		err = ownFile(l.Path(), fi)
	}
	if err != nil {
		_ = l.Unlock()
		return err
	}
	return nil
}

// The checks themselves are fsguard's, which guards the connector files
// too; these name what they check in the state directory.

// ownDir refuses the state directory, or a directory in it, at path unless
// it is a directory of this user (or root) that neither group nor others
// may write. A symbolic link is followed only if follow (the state
// directory itself may be one: the user chose it; what it holds may not).
func ownDir(path string, follow bool) error { return fsguard.Dir(path, "state directory", follow) }

// ownFile refuses the state file at path, described by fi, unless it is a
// regular file owned by this user (or root).
func ownFile(path string, fi fs.FileInfo) error { return fsguard.File(path, "state file", fi) }

// refusedLink turns the error of opening a state file through a symbolic
// link into a refusal naming it, and names the file in any other.
func refusedLink(path string, err error) error { return fsguard.Link(path, "state file", err) }

// isRefusal reports whether err is, or wraps, a refusal of a file or
// directory for its owner, mode or kind.
func isRefusal(err error) bool { return fsguard.IsRefusal(err) }
