//go:build unix

package jongler

import (
	"io/fs"
	"syscall"
)

// inode returns a file's inode number, which changes when it is replaced.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
