//go:build unix

package fpsecret

import (
	"os"

	"github.com/api-jongler/jongler/internal/fsguard"
)

// private refuses the file at path if group or others may read it.
func private(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fsguard.Refuse("jongler: %s %s may be read by group or others (mode %#o); refused: run chmod 600 on it", what, path, perm)
	}
	return nil
}
