//go:build unix

package drills_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestDrillPlantedSymlinks makes a hostile local user's attack: a state
// directory made by someone else with mode 0777, with use.table, state.lock
// and use.table.lock planted as symbolic links to a victim's files. The
// victim's file must stay byte-identical and no file may appear where a
// link points. Then the same links in a directory of the user's own (left
// by a mistake, or planted before the mode was fixed): every state file is
// opened without following links, and refused.
func TestDrillPlantedSymlinks(t *testing.T) {
	keys := keyList(map[string]string{"key1": "link-secret-1", "key2": "link-secret-2", "key3": "link-secret-3"})
	content := []byte("# important configuration\nkeep = me\n\n")
	var victim, created string // a victim's file, and where none is
	fresh := func(t *testing.T) {
		victimDir := t.TempDir()
		victim = filepath.Join(victimDir, "important.conf")
		if err := os.WriteFile(victim, content, 0o644); err != nil {
			t.Fatal(err)
		}
		created = filepath.Join(victimDir, "created-by-the-store")
	}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.WriteHeader(http.StatusTooManyRequests) // makes the transport write a lockdown
		w.Write(fixture(t, "gemini/429-per-minute-tokens-free.json"))
	})
	plant := func(t *testing.T, mode os.FileMode, links map[string]string) string {
		for name, target := range links {
			links[name] = map[string]string{"victim": victim, "created": created}[target]
		}
		dir := filepath.Join(t.TempDir(), "state")
		conn := filepath.Join(dir, "generativelanguage.googleapis.com")
		if err := os.MkdirAll(filepath.Join(conn, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(conn, name)); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{dir, conn, filepath.Join(conn, "keys")} {
			os.Chmod(d, mode)
		}
		return dir
	}
	intact := func(t *testing.T) {
		t.Helper()
		got, err := os.ReadFile(victim)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("victim file changed: %d bytes (was %d), %v", len(got), len(content), err)
		}
		if _, err := os.Lstat(created); err == nil {
			t.Errorf("a file was created where a planted link points")
		}
	}
	send := func(t *testing.T, dir string) error {
		tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(keys...), jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL),
			jongler.WithBudgets(jongler.Budget{Model: "*", PerMinute: 1000})) // budgets open budget.table
		if err != nil {
			return err
		}
		defer tr.Close()
		req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
		req.Header.Set("x-goog-api-key", "placeholder")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		// The transport only warns when it cannot record a lockdown: ask
		// the store itself.
		s, err := jongler.NewFileStore(dir, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Update(context.Background(), jongler.ConnectorGemini, func(b []byte) ([]byte, error) { return b, nil })
	}

	t.Run("0777 directory of someone else", func(t *testing.T) {
		fresh(t)
		dir := plant(t, 0o777, map[string]string{"use.table": "victim", "state.lock": "created", "use.table.lock": "created"})
		err := send(t, dir)
		if err == nil || !strings.Contains(err.Error(), dir+" is writable by group or others") {
			t.Errorf("err = %v; want the state directory refused", err)
		}
		intact(t)
	})
	for _, name := range []string{"use.table", "use.table.lock", "state.lock", "state.json", "budget.table"} {
		t.Run(name+" a link in the user's own directory", func(t *testing.T) {
			fresh(t)
			target := "victim"
			if strings.HasSuffix(name, ".lock") {
				target = "created"
			}
			dir := plant(t, 0o700, map[string]string{name: target})
			err := send(t, dir)
			if err == nil || !strings.Contains(err.Error(), name+" is a symbolic link; refused") {
				t.Errorf("err = %v; want %s refused as a symbolic link", err, name)
			}
			intact(t)
		})
	}
	t.Run("slot file a link", func(t *testing.T) {
		fresh(t)
		dir := plant(t, 0o700, nil)
		keysDir := filepath.Join(dir, "generativelanguage.googleapis.com", "keys")
		for _, k := range keys {
			os.Symlink(victim, filepath.Join(keysDir, k.Name+".0.lock"))
		}
		err := send(t, dir)
		if err == nil || !strings.Contains(err.Error(), ".0.lock is a symbolic link; refused") {
			t.Errorf("err = %v; want the slot file refused as a symbolic link", err)
		}
		intact(t)
	})
	t.Run("state.lock a FIFO", func(t *testing.T) {
		dir := plant(t, 0o700, nil)
		conn := filepath.Join(dir, "generativelanguage.googleapis.com")
		if err := syscall.Mkfifo(filepath.Join(conn, "state.lock"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := send(t, dir)
		if err == nil || !strings.Contains(err.Error(), "state.lock is not a regular file") {
			t.Errorf("err = %v; want state.lock refused as not a regular file", err)
		}
	})
}
