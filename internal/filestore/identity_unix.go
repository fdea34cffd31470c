//go:build unix

package filestore

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

// fileID returns the identity of the file fi describes.
func fileID(fi fs.FileInfo) dirID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return dirID{dev: uint64(st.Dev), ino: uint64(st.Ino), ok: true}
	}
	return dirID{}
}
