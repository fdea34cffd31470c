//go:build unix

package jongler_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// A connector file decides where keys go: the connectors directory and its
// files are guarded as the state directory is (see connectors.go).

// evilGemini is a connector file another user would plant to have the
// Gemini key sent to a listener of theirs.
const evilGemini = `{"name":"generativelanguage.googleapis.com","host":"127.0.0.1","port":9,"protocol":"http","format":"json","requires_api_key":true,"api_key_header":"x-goog-api-key","policy":"gemini"}`

// connectorsWithin returns the error of jongler.Connectors(dir), failing t
// if it has not returned within 5 s.
func connectorsWithin(t *testing.T, dir string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := jongler.Connectors(dir)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Connectors(%s) still blocked after 5 s", dir)
		return nil
	}
}

// wantRefusal fails t unless err is one line, starting "jongler: ", that
// names path and holds each of want.
func wantRefusal(t *testing.T, err error, path string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s refused", path)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "jongler: ") || !strings.Contains(msg, path+" ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming %s", msg, path)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
}

// TestConnectorDirModesRefused: a connectors directory, or a connector
// file, that group or others may write is refused, by Connectors and by
// NewTransport (the library's path, $APIJONGLER_CONNECTORS): another local
// user could otherwise plant a file sending a key to their own listener.
func TestConnectorDirModesRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dirMode os.FileMode
		mode    os.FileMode
		dirBad  bool // the directory is refused, else the file
	}{
		{"dir 0777", 0o777, 0o600, true},
		{"dir 0770", 0o770, 0o600, true},
		{"dir 0702", 0o702, 0o600, true},
		{"dir 1777", 0o777 | os.ModeSticky, 0o600, true},
		{"file 0666", 0o700, 0o666, false},
		{"file 0620", 0o755, 0o620, false},
		{"file 0602", 0o755, 0o602, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "connectors")
			os.Mkdir(dir, 0o700)
			file := filepath.Join(dir, "gemini.json")
			if err := os.WriteFile(file, []byte(evilGemini), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			bad, what := file, "connector file"
			if tc.dirBad {
				bad, what = dir, "connectors directory"
			}
			wantRefusal(t, connectorsWithin(t, dir), bad, what, "writable by group or others", "chmod go-w")
			_, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithConnectorsDir(dir),
				jongler.WithKeys(jongler.Key{Name: "k", Value: "value-of-the-key-0123456789"}), jongler.WithStore(jongler.NewMemoryStore()))
			wantRefusal(t, err, bad, "writable by group or others")
		})
	}
	t.Run("0755 and 0644 accepted", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "connectors")
		os.Mkdir(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "local.json"), []byte(`{"name":"local","host":"127.0.0.1","protocol":"http"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, "local.json"), 0o644)
		if err := connectorsWithin(t, dir); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConnectorDirForeignOwnerRefused: a connectors directory or file
// owned by another user (not root) is refused. It needs root to give them
// away (CI runs as root).
func TestConnectorDirForeignOwnerRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("NOT RUN: giving a file to another user needs root; CI runs as root")
	}
	for _, file := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "connectors")
		os.Mkdir(dir, 0o755)
		path := filepath.Join(dir, "gemini.json")
		if err := os.WriteFile(path, []byte(evilGemini), 0o644); err != nil {
			t.Fatal(err)
		}
		bad := dir
		if file {
			bad = path
		}
		if err := os.Chown(bad, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, connectorsWithin(t, dir), bad, "is owned by uid 65534, not by this user")
	}
}

// TestConnectorFileNotRegularRefused: a FIFO, a symbolic link (to
// /dev/zero, to a file of someone else's), a socket or a directory named
// *.json in the connectors directory is refused at once, without being
// read: a FIFO used to block every program reading the directory for
// ever, and /dev/zero to fill its memory.
func TestConnectorFileNotRegularRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "not a regular file"},
		{"link to /dev/zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "symbolic link"},
		{"link to a file", func(p string) error {
			target := filepath.Join(filepath.Dir(filepath.Dir(p)), "elsewhere.json")
			if err := os.WriteFile(target, []byte(evilGemini), 0o600); err != nil {
				return err
			}
			return os.Symlink(target, p)
		}, "symbolic link"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "not a regular file"},
		{"socket", func(p string) error {
			ln, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { ln.Close() })
			}
			return err
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			os.Mkdir(dir, 0o700)
			path := filepath.Join(dir, "x.json")
			if err := tc.make(path); err != nil {
				t.Skipf("NOT RUN: cannot make a %s here: %v", tc.name, err)
			}
			if tc.name == "fifo" {
				// Should the open block, a writer frees it when the
				// test ends.
				t.Cleanup(func() {
					if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
				})
			}
			wantRefusal(t, connectorsWithin(t, dir), path, "connector file", tc.want, "refused")
		})
	}
}

// TestConnectorFileTooLarge: a connector file over 1 MiB is refused with
// an error naming it, not read into memory whole.
func TestConnectorFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.json")
	body := `{"name":"big","host":"127.0.0.1","protocol":"http"}`
	if err := os.WriteFile(path, []byte(body+strings.Repeat(" ", 1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, connectorsWithin(t, dir), path, "larger than 1048576 bytes")
	if err := os.WriteFile(path, []byte(body+strings.Repeat(" ", 1<<20-len(body))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := connectorsWithin(t, dir); err != nil {
		t.Fatalf("a file of exactly 1 MiB: %v", err)
	}
}
