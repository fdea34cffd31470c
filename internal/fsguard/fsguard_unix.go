//go:build unix

package fsguard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// The flags of OpenFlag.
const (
	NoFollow = syscall.O_NOFOLLOW
	Cloexec  = syscall.O_CLOEXEC
	NonBlock = syscall.O_NONBLOCK
)

// Dir refuses the directory at path, called what in messages ("state
// directory"), unless it is a directory owned by this user (or root) that
// neither group nor others may write. A symbolic link is followed only if
// follow (a directory the user names may be one; what it holds may not).
func Dir(path, what string, follow bool) error {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return fmt.Errorf("jongler: %s: %w", what, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return Refuse("jongler: %s %s is a symbolic link; refused", what, path)
	case !fi.IsDir():
		return Refuse("jongler: %s %s is not a directory (%s); refused", what, path, fi.Mode().Type())
	}
	if err := owner(path, what, fi); err != nil {
		return err
	}
	return writable(path, what, fi, ", or use another directory")
}

// File refuses the file at path, described by fi and called what in
// messages ("state file"), unless it is a regular file owned by this user
// (or root).
func File(path, what string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return Link(path, what, syscall.ELOOP)
	}
	if !fi.Mode().IsRegular() {
		return Refuse("jongler: %s %s is not a regular file (%s); refused", what, path, fi.Mode().Type())
	}
	return owner(path, what, fi)
}

// Shared refuses the file or directory at path, described by fi and called
// what in the message ("connector file"), if group or others may write it.
func Shared(path, what string, fi fs.FileInfo) error { return writable(path, what, fi, "") }

// writable refuses fi if group or others may write it, saying to run
// chmod go-w on it, and hint.
func writable(path, what string, fi fs.FileInfo, hint string) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return Refuse("jongler: %s %s is writable by group or others (mode %#o); refused: run chmod go-w on it%s",
			what, path, perm, hint)
	}
	return nil
}

func owner(path, what string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := os.Geteuid()
	if int(st.Uid) != me && st.Uid != 0 {
		return Refuse("jongler: %s %s is owned by uid %d, not by this user (uid %d); refused", what, path, st.Uid, me)
	}
	return nil
}

// Link turns err, met opening the file at path (called what) through a
// symbolic link (O_NOFOLLOW's ELOOP), into a Refusal naming it; a Refusal
// is kept, any other error wrapped with the file's name.
func Link(path, what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ELOOP) {
		return Refuse("jongler: %s %s is a symbolic link; refused (%ss must be regular files of this user)", what, path, what)
	}
	if IsRefusal(err) {
		return err
	}
	return fmt.Errorf("jongler: %s %s: %w", what, path, err)
}
