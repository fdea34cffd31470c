//go:build unix

package fpsecret

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/api-jongler/jongler/internal/fsguard"
)

// TestLoadMakesPrivateFile: the first Load makes the file, mode 0600, in a
// directory of mode 0700; every later or concurrent Load reads the same
// secret.
func TestLoadMakesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apijongler", "fingerprint.key")
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			s, err := Load(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got[1:] {
		if len(s) != 32 || !bytes.Equal(s, got[0]) {
			t.Fatal("concurrent loads disagree on the secret")
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %v %v, want mode 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %#o, want 0700", di.Mode().Perm())
	}
}

// TestLoadRefusesExposedFile: a secret file group or others may read, a
// link, or one without a secret in it is refused.
func TestLoadRefusesExposedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fingerprint.key")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	if _, err := Load(path); !fsguard.IsRefusal(err) {
		t.Fatalf("group-readable: %v, want a refusal", err)
	}
	os.Chmod(path, 0o600)
	link := filepath.Join(dir, "link.key")
	os.Symlink(path, link)
	if _, err := Load(link); !fsguard.IsRefusal(err) {
		t.Fatalf("link: %v, want a refusal", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("abcd\n"), 0o600)
	if _, err := Load(short); !fsguard.IsRefusal(err) {
		t.Fatalf("short secret: %v, want a refusal", err)
	}
}
