//go:build unix

package fsguard

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFile: ReadFile reads a regular file of the user's that no one
// else may write, up to its limit, and refuses anything else at once with
// one line naming the file and what it was called.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := file("ok", "1234", 0o644)
	if data, err := ReadFile(ok, "test file", 4); err != nil || string(data) != "1234" {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(ok, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{ok + "x", "no such file"},
		{file("big", "12345", 0o600), "larger than 4 bytes (5)"},
		{file("shared", "1", 0o660), "writable by group or others (mode 0660)"},
		{fifo, "not a regular file (p---------)"},
		{link, "is a symbolic link; refused (test files must be"},
		{dir, "not a regular file (d---------)"},
	} {
		_, err := ReadFile(tc.path, "test file", 4)
		if err == nil || !strings.HasPrefix(err.Error(), "jongler: test file "+tc.path) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ReadFile(%s) = %v; want one line naming it and %q", tc.path, err, tc.want)
		}
		if tc.path != ok+"x" && !IsRefusal(err) {
			t.Errorf("ReadFile(%s): %v is not a Refusal", tc.path, err)
		}
	}
}
