//go:build unix

package jongler

import (
	"io/fs"
	"os"
	"syscall"
)

// inode returns a file's inode number, which changes when it is replaced.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// slotOpenFlag opens slot files for a lease. O_NONBLOCK changes nothing for
// a regular file nor for flock, which waits or not by LOCK_NB alone; but it
// spares os.OpenFile the four fcntl calls it makes otherwise (to make the
// descriptor non-blocking for the poller, which refuses regular files, and
// back), nearly half of the system calls of a lease. O_NOFOLLOW: a slot
// file is never a symbolic link (see ownDir).
const slotOpenFlag = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOFOLLOW

// fileID returns the identity of the file fi describes.
func fileID(fi fs.FileInfo) dirID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return dirID{dev: uint64(st.Dev), ino: uint64(st.Ino), ok: true}
	}
	return dirID{}
}
