//go:build unix

package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadRefusesWhatIsNotAFile: a FIFO, a device or a directory where the
// INI file should be is refused at once, naming the file, never read (a
// FIFO with no writer would block the reader for ever, /dev/zero never
// ends); a link to a regular file is read, as users link their config.
func TestReadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.ini")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.ini")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, zero, dir} {
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), path) {
			t.Errorf("Read(%s) = %v, want a refusal naming the file", path, err)
		}
	}

	real := filepath.Join(dir, "keys.ini")
	if err := os.WriteFile(real, []byte("[gemini]\nk1 = AIzaSyExampleExampleExampleExample0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.ini")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(link); err != nil {
		t.Errorf("Read through a link: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.ini")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestReadRefusesAHugeFile: a file far larger than any key file is refused
// rather than read into memory.
func TestReadRefusesAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.ini")
	if err := os.WriteFile(path, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Read of a %d-byte file: %v, want a refusal", maxFileSize+1, err)
	}
}
