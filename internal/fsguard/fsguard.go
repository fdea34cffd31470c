// Package fsguard refuses files and directories that someone other than the
// user may have planted or changed: those owned by another user (root
// aside), those group or others may write, symbolic links where a file
// should be, and anything but a regular file. The state directory and the
// connector files, which decide where keys go, are both guarded by it.
//
// Every message names the file and says what is wrong, on one line, and
// starts with "jongler: "; none quotes a file's content.
package fsguard

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// OpenFlag is added to every open of a guarded file: no symbolic link is
// followed (O_NOFOLLOW), no descriptor leaks to a child (O_CLOEXEC), and a
// FIFO planted where a file should be does not block the open
// (O_NONBLOCK). It is 0 where the system has none of them.
const OpenFlag = NoFollow | Cloexec | NonBlock

// Refusal is the error of a file or directory refused for its owner, mode
// or kind.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

// Refuse returns a Refusal with the message format makes of a.
func Refuse(format string, a ...any) error { return &Refusal{fmt.Sprintf(format, a...)} }

// IsRefusal reports whether err is, or wraps, a Refusal.
func IsRefusal(err error) bool {
	if err == nil {
		return false
	}
	var r *Refusal
	return errors.As(err, &r)
}

// ReadFile reads the file at path, called what in messages, as os.ReadFile
// would, but refuses it unless it is a regular file owned by this user (or
// root) that neither group nor others may write, and unless it holds at
// most limit bytes. A symbolic link, a FIFO, a device or a socket is
// refused without being read, and the open never blocks.
func ReadFile(path, what string, limit int64) ([]byte, error) {
	// Lstat first: a device is refused before it is opened (opening one
	// may do something); the descriptor is checked again below, so that a
	// file swapped in between is refused too.
	fi, err := os.Lstat(path)
	if err == nil {
		err = strictFile(path, what, fi)
	}
	if err != nil {
		return nil, Link(path, what, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|OpenFlag, 0)
	if err != nil {
		return nil, Link(path, what, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err == nil {
		err = strictFile(path, what, fi)
	}
	if err != nil {
		return nil, Link(path, what, err)
	}
	return readAtMost(f, fi, path, what, limit)
}

// ReadRegular reads the file at path, called what in messages, as
// os.ReadFile would, following a symbolic link, but refuses anything but a
// regular file (a FIFO, a device, a socket, a directory) without blocking
// on it, and a file of more than limit bytes. It is for files the user
// names, which may be links and may be shared read-only, such as the INI
// file of keys. An error for a file that does not exist matches
// fs.ErrNotExist.
func ReadRegular(path, what string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|Cloexec|NonBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("jongler: %s %s: %w", what, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, Refuse("jongler: %s %s is not a regular file (%s); refused", what, path, fi.Mode().Type())
	}
	return readAtMost(f, fi, path, what, limit)
}

// readAtMost reads the open file f, described by fi, refusing it if it
// holds more than limit bytes, by its size or by what a read finds.
func readAtMost(f *os.File, fi fs.FileInfo, path, what string, limit int64) ([]byte, error) {
	if fi.Size() > limit {
		return nil, Refuse("jongler: %s %s is larger than %d bytes (%d); refused", what, path, limit, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("jongler: %s %s: %w", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, Refuse("jongler: %s %s is larger than %d bytes; refused", what, path, limit)
	}
	return data, nil
}

// strictFile is File and Shared.
func strictFile(path, what string, fi fs.FileInfo) error {
	if err := File(path, what, fi); err != nil {
		return err
	}
	return Shared(path, what, fi)
}
