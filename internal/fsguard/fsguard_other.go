//go:build !unix

package fsguard

import (
	"fmt"
	"io/fs"
	"os"
)

// Elsewhere there are no Unix owners and modes to check, nor O_NOFOLLOW:
// a directory's access list is the system's business; only the kinds of
// files are checked.
const (
	NoFollow = 0
	Cloexec  = 0
	NonBlock = 0
)

// Dir refuses the path unless it is a directory; what names it in messages.
func Dir(path, what string, follow bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("jongler: %s: %w", what, err)
	}
	if !fi.IsDir() {
		return Refuse("jongler: %s %s is not a directory; refused", what, path)
	}
	return nil
}

// File refuses the file at path, described by fi, unless it is a regular
// file; what names it in messages.
func File(path, what string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return Refuse("jongler: %s %s is not a regular file; refused", what, path)
	}
	return nil
}

// Link wraps err, met opening the file at path (called what), with the
// file's name; a Refusal is kept.
func Link(path, what string, err error) error {
	if err == nil || IsRefusal(err) {
		return err
	}
	return fmt.Errorf("jongler: %s %s: %w", what, path, err)
}

// Shared refuses nothing: there are no Unix modes to check.
func Shared(path, what string, fi fs.FileInfo) error { return nil }
