//go:build unix

package filestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

const (
	noFollow = syscall.O_NOFOLLOW
	cloexec  = syscall.O_CLOEXEC
	nonBlock = syscall.O_NONBLOCK
)

// ownDir refuses the directory at path unless it is a directory owned by
// this user (or root) that neither group nor others may write. A symbolic
// link is followed only if follow (the state directory itself may be one:
// the user chose it; what it holds may not).
func ownDir(path string, follow bool) error {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return fmt.Errorf("jongler: state directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return refuse("jongler: state directory %s is a symbolic link; refused", path)
	case !fi.IsDir():
		return refuse("jongler: state directory %s is not a directory (%s); refused", path, fi.Mode().Type())
	}
	if err := owner(path, "state directory", fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return refuse("jongler: state directory %s is writable by group or others (mode %#o); refused: run chmod go-w on it, or use another directory",
			path, fi.Mode().Perm())
	}
	return nil
}

// ownFile refuses the state file at path, described by fi, unless it is a
// regular file owned by this user (or root).
func ownFile(path string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return refusedLink(path, syscall.ELOOP)
	}
	if !fi.Mode().IsRegular() {
		return refuse("jongler: state file %s is not a regular file (%s); refused", path, fi.Mode().Type())
	}
	return owner(path, "state file", fi)
}

func owner(path, what string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := os.Geteuid()
	if int(st.Uid) != me && st.Uid != 0 {
		return refuse("jongler: %s %s is owned by uid %d, not by this user (uid %d); refused", what, path, st.Uid, me)
	}
	return nil
}

// refusedLink turns the error of opening a state file through a symbolic
// link (O_NOFOLLOW's ELOOP) into a refusal naming it.
func refusedLink(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ELOOP) {
		return refuse("jongler: state file %s is a symbolic link; refused (state files must be regular files of this user)", path)
	}
	if isRefusal(err) {
		return err
	}
	return fmt.Errorf("jongler: state file %s: %w", path, err)
}
