//go:build !unix

package filestore

import (
	"fmt"
	"io/fs"
	"os"
)

// Elsewhere there are no Unix owners and modes to check, nor O_NOFOLLOW:
// the state directory's access list is the system's business.
const (
	noFollow = 0
	cloexec  = 0
	nonBlock = 0
)

func ownDir(path string, follow bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("jongler: state directory: %w", err)
	}
	if !fi.IsDir() {
		return refuse("jongler: state directory %s is not a directory; refused", path)
	}
	return nil
}

func ownFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return refuse("jongler: state file %s is not a regular file; refused", path)
	}
	return nil
}

func refusedLink(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("jongler: state file %s: %w", path, err)
}
