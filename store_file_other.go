//go:build !unix

package jongler

import (
	"io/fs"
	"os"
)

// inode is not known here; modification time and size tell changes apart.
func inode(fs.FileInfo) uint64 { return 0 }

// slotOpenFlag opens slot files for a lease.
const slotOpenFlag = os.O_RDONLY

// fileID is not known here: a replaced directory is not detected.
func fileID(fs.FileInfo) dirID { return dirID{} }
