//go:build !unix

package filestore

import "io/fs"

// inode is not known here; modification time and size tell changes apart.
func inode(fs.FileInfo) uint64 { return 0 }

// fileID is not known here: a replaced directory is not detected.
func fileID(fs.FileInfo) dirID { return dirID{} }
