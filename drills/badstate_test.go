package drills_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/state"
)

// The bad-state drill: the state directory holds what it should not (a
// truncated or garbage state file, a file of an unknown version, foreign
// files, a directory where a file should be, a truncated use table) or a
// lock file is deleted under a live lease. Each case must end in a clear
// warning or error, never a panic, never one key leased twice, and the
// store must heal where it safely can.

func leaseKey(l jongler.Lease) string {
	if l == nil {
		return "nothing"
	}
	return l.Key()
}

func TestDrillBadStateFiles(t *testing.T) {
	ctx := context.Background()
	valid := func(t *testing.T, path string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(data, &v); err != nil || v.Version != 1 {
			t.Fatalf("state file after Update: version %d, %v:\n%s", v.Version, err, data)
		}
	}
	cases := []struct {
		name    string
		content func(healthy []byte) []byte
	}{
		{"truncated", func(h []byte) []byte { return h[:len(h)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"garbage", func([]byte) []byte { return []byte("\x00\xff\x13garbage{{{\n") }},
		{"unknown version", func([]byte) []byte { return []byte(`{"version": 99, "records": []}`) }},
		{"no version", func([]byte) []byte { return []byte(`{"records": []}`) }},
		{"record without key", func([]byte) []byte {
			return []byte(`{"version": 1, "records": [{"state": "LOCKDOWN", "until": "2099-01-01T00:00:00Z"}]}`)
		}},
		{"record of unknown state", func([]byte) []byte {
			return []byte(`{"version": 1, "records": [{"key": "k1", "state": "WEIRD"}]}`)
		}},
		{"two objects", func(h []byte) []byte { return append(append([]byte{}, h...), h...) }},
		{"wrong types", func([]byte) []byte { return []byte(`{"version": "1", "records": {"k1": 3}}`) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			drillSeed(t, dir)
			path := filepath.Join(dir, drillConn, "state.json")
			healthy, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := tc.content(healthy)
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}

			s, logs := drillStore(t, dir)
			// Many reads, as many requests would make.
			for range 50 {
				st, err := loadState(ctx, s, drillConn)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(st.Records) != 0 {
					t.Fatalf("damaged file half believed: %+v", st.Records)
				}
			}
			if n := strings.Count(logs.String(), "damaged state file"); n != 1 {
				first, _, _ := strings.Cut(logs.String(), "\n")
				t.Errorf("%d warnings about the damaged file over 50 reads; want 1; the first:\n%s", n, first)
			}
			if !strings.Contains(logs.String(), "state.json") {
				t.Errorf("the warning does not name the file:\n%s", logs.String())
			}
			// Healed: set aside, with its content kept for a person to see.
			aside, err := os.ReadFile(path + ".damaged")
			if err != nil || string(aside) != string(bad) {
				t.Errorf("damaged file not set aside as it was: %v", err)
			}
			if err := state.Update(ctx, s, drillConn, func(st *state.State) error { return nil }); err != nil {
				t.Fatalf("Update after damage: %v", err)
			}
			valid(t, path)
			s2, _ := drillStore(t, dir)
			exclusive(t, s, s2)
		})
	}
}

func TestDrillForeignFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	drillSeed(t, dir)
	conn := filepath.Join(dir, drillConn)
	for _, f := range []string{
		filepath.Join(dir, "README"),
		filepath.Join(conn, "README.md"),
		filepath.Join(conn, "keys", "notes.txt"),
		filepath.Join(conn, "state.json.bak"),
		filepath.Join(conn, ".state-123.tmp"),
	} {
		if err := os.WriteFile(f, []byte("not ours\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where a lock file of a new key goes, and a directory
	// called like a connector's state file in another connector.
	if err := os.MkdirAll(filepath.Join(conn, "keys", "k4.0.lock"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "other.example", "state.json"), 0o700); err != nil {
		t.Fatal(err)
	}

	a, logs := drillStore(t, dir)
	b, _ := drillStore(t, dir)
	st, err := loadState(ctx, a, drillConn)
	if err != nil || len(st.Records) != 1 {
		t.Fatalf("Load beside foreign files: %+v, %v", st, err)
	}
	exclusive(t, a, b)
	// A key whose lock file is a directory: leased and exclusive all the
	// same (a directory can be flocked), or refused with an error.
	four := []string{"k4"}
	l, err := a.Acquire(ctx, drillConn, four, 1)
	switch {
	case err != nil:
		if !strings.Contains(err.Error(), "k4") {
			t.Errorf("error does not name the key: %v", err)
		}
	case l == nil:
		t.Error("k4 not leased, and no error said why")
	default:
		if l2, err := b.Acquire(ctx, drillConn, four, 1); l2 != nil || err != nil {
			t.Errorf("k4 leased twice (%v, %v)", leaseKey(l2), err)
		}
		l.Release(context.Background())
	}
	// Clear of every connector goes past the foreign directory with an
	// error that names it, or skips it.
	if err := jongler.Cleanup(ctx, a, drillConn, "other.example"); err != nil && !strings.Contains(err.Error(), "other.example") {
		t.Errorf("Clear: %v", err)
	}
	// A temporary state file (as a writer killed mid-write leaves) is
	// removed by the first write under the state lock.
	if _, err := os.Stat(filepath.Join(conn, ".state-123.tmp")); err == nil {
		t.Error("the temporary file of a dead writer was left in place")
	}
	if st, err := loadState(ctx, a, drillConn); err != nil || len(st.Records) != 0 {
		t.Errorf("after Clear: %+v, %v", st, err)
	}
	if strings.Contains(logs.String(), "damaged") {
		t.Errorf("foreign files taken for damage:\n%s", logs.String())
	}
}

func TestDrillWrongKinds(t *testing.T) {
	ctx := context.Background()
	t.Run("state dir is a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state")
		os.WriteFile(path, []byte("x"), 0o600)
		_, err := jongler.NewFileStore(path, nil)
		if err == nil || !strings.Contains(err.Error(), "jongler: state directory") || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v; want a state directory error naming %s", err, path)
		}
		// And through a transport.
		_, err = jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(keyList(map[string]string{"k1": "v1"})...), jongler.WithStateDir(path))
		if err == nil || !strings.Contains(err.Error(), "state directory") {
			t.Fatalf("NewTransport: %v", err)
		}
	})
	t.Run("state.json is a directory", func(t *testing.T) {
		dir := t.TempDir()
		drillSeed(t, dir)
		path := filepath.Join(dir, drillConn, "state.json")
		os.Remove(path)
		os.Mkdir(path, 0o700)
		s, logs := drillStore(t, dir)
		st, err := loadState(ctx, s, drillConn)
		if err != nil && !strings.Contains(err.Error(), "state.json") {
			t.Errorf("Load: %v; want an error naming state.json", err)
		}
		if err == nil && (len(st.Records) != 0 || !strings.Contains(logs.String(), "state.json")) {
			t.Errorf("Load: %+v with no warning naming state.json:\n%s", st, logs.String())
		}
		err = state.Update(ctx, s, drillConn, func(*state.State) error { return nil })
		if err != nil && !strings.Contains(err.Error(), "state.json") {
			t.Errorf("Update: %v; want an error naming state.json", err)
		}
		s2, _ := drillStore(t, dir)
		exclusive(t, s, s2)
	})
	t.Run("keys dir is a file", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, drillConn), 0o700)
		os.WriteFile(filepath.Join(dir, drillConn, "keys"), []byte("x"), 0o600)
		s, _ := drillStore(t, dir)
		_, err := s.Acquire(ctx, drillConn, drillKeys, 1)
		if err == nil || !strings.Contains(err.Error(), "jongler: ") || !strings.Contains(err.Error(), "keys") {
			t.Fatalf("Acquire: %v; want an error naming the keys directory", err)
		}
	})
	t.Run("use.table is a directory", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, drillConn, "use.table"), 0o700)
		a, logs := drillStore(t, dir)
		b, _ := drillStore(t, dir)
		exclusive(t, a, b)
		if !strings.Contains(logs.String(), "no use table") {
			t.Errorf("no warning about the use table:\n%s", logs.String())
		}
	})
	t.Run("state.lock is a directory", func(t *testing.T) {
		dir := t.TempDir()
		drillSeed(t, dir)
		lock := filepath.Join(dir, drillConn, "state.lock")
		os.Remove(lock)
		os.Mkdir(lock, 0o700)
		s, _ := drillStore(t, dir)
		err := state.Update(ctx, s, drillConn, func(*state.State) error { return nil })
		if err != nil && !strings.Contains(err.Error(), "state.lock") {
			t.Errorf("Update: %v; want an error naming state.lock", err)
		}
		s2, _ := drillStore(t, dir)
		exclusive(t, s, s2)
	})
}

func TestDrillUseTable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		live bool   // damage it under a live store, rather than before
		warn string // in the warnings
		do   func(path string) error
	}{
		{"truncated before", false, "", func(p string) error { return os.Truncate(p, 100) }},
		{"truncated under a live store", true, "truncated under this process", func(p string) error { return os.Truncate(p, 0) }},
		{"garbage before", false, "nonsense lease count", func(p string) error { return os.WriteFile(p, garbage(70000), 0o600) }},
		{"garbage under a live store", true, "nonsense lease count", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(garbage(70000), 0)
			return err
		}},
		{"deleted under a live store", true, "", os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			drillSeed(t, dir)
			path := filepath.Join(dir, drillConn, "use.table")
			var a *jongler.FileStore
			var logs *syncBuffer
			if tc.live {
				a, logs = drillStore(t, dir)
				if l, _ := a.Acquire(ctx, drillConn, drillKeys, 1); l != nil {
					l.Release(context.Background())
				}
			}
			if err := tc.do(path); err != nil {
				t.Fatal(err)
			}
			if !tc.live {
				a, logs = drillStore(t, dir)
			}
			b, _ := drillStore(t, dir)
			exclusive(t, a, b)
			exclusive(t, b, a)
			if st, err := loadState(ctx, a, drillConn); err != nil || len(st.Records) != 1 {
				t.Errorf("Load: %+v, %v", st, err)
			}
			if !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("no warning %q:\n%s", tc.warn, logs.String())
			}
		})
	}
}

// garbage returns n bytes that are no use table.
func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7919 + i>>8)
	}
	return b
}

// A file-store lease dropped without Release stays held, in this process's
// record as in the kernel: the slot file's descriptor is not closed by the
// garbage collector behind the store's back, which would let another
// process lease the key while this one believes it holds it.
func TestFileLeaseDroppedStaysHeld(t *testing.T) {
	dir := t.TempDir()
	a, _ := drillStore(t, dir)
	b, blogs := drillStore(t, dir)
	ctx := context.Background()
	func() {
		l, err := a.Acquire(ctx, drillConn, []string{"k1"}, 1)
		if err != nil || l == nil {
			t.Fatalf("Acquire: %v, %v", l, err)
		}
	}()
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// The kernel still holds the slot, as the first store believes.
	n, err := b.InFlight(ctx, drillConn, []string{"k1"}, 1)
	if err != nil || n["k1"] != 1 {
		t.Fatalf("InFlight seen by another store = %v, %v; want k1: 1 (the slot's descriptor was closed by the garbage collector)", n, err)
	}
	l, err := b.Acquire(ctx, drillConn, []string{"k1"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l != nil {
		t.Fatal("another store leased k1 while the first store still counts it held")
	}
	if strings.Contains(blogs.String(), "died") {
		t.Errorf("a false death was reported:\n%s", blogs)
	}
	runtime.KeepAlive(a) // the store lives on; only the lease was dropped
}
