//go:build linux

package drills_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/state"
)

// A read-only state directory. Tests run as root in CI, where file modes
// stop nothing, so as root the directory is made read-only by a read-only
// bind mount over it, in a child process with a mount namespace of its own
// (Unshareflags CLONE_NEWNS; the mount vanishes with the child). As
// another user, modes do it: 0500 directories, 0400 files.

func TestDrillReadOnlyStateDir(t *testing.T) {
	dir := t.TempDir()
	drillSeed(t, dir)
	// The transport's connector too: lock files for k1 and k2.
	s, _ := drillStore(t, dir)
	l1, _ := s.Acquire(t.Context(), jongler.ConnectorGemini, []string{"k1"}, 1)
	l2, _ := s.Acquire(t.Context(), jongler.ConnectorGemini, []string{"k2"}, 1)
	if l1 == nil || l2 == nil {
		t.Fatal("seeding the transport's connector failed")
	}
	l1.Release(context.Background())
	l2.Release(context.Background())
	if os.Geteuid() != 0 {
		t.Cleanup(func() { chmodTree(dir, 0o700, 0o600) })
		chmodTree(dir, 0o500, 0o400)
		t.Log("made read-only with file modes")
		readOnlyChecks(t, dir)
		return
	}
	inMountNamespace(t, "TestDrillReadOnlyChild", "read-only", dir, "no read-only mount:", "a read-only bind mount over the state directory")
}

// TestDrillReadOnlyChild makes the state directory read-only by a bind
// mount in its own mount namespace, then runs the checks.
func TestDrillReadOnlyChild(t *testing.T) {
	dir := mountChildDir(t, "read-only", "TestDrillReadOnlyStateDir")
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		t.Fatalf("no read-only mount: bind: %v", err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("no read-only mount: remount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("no read-only mount: writing in it gave %v", err)
	}
	t.Log("state directory mounted read-only")
	readOnlyChecks(t, dir)
}

func chmodTree(dir string, dirMode, fileMode fs.FileMode) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			os.Chmod(p, dirMode)
		} else {
			os.Chmod(p, fileMode)
		}
		return nil
	})
	os.Chmod(dir, dirMode)
}

// readOnlyChecks: in a read-only state directory seeded by drillSeed,
// leases of keys that have lock files still work and stay exclusive, the
// records are read, and what needs a write fails with a clear error or a
// warning, never a panic.
func readOnlyChecks(t *testing.T, dir string) {
	ctx := context.Background()
	a, logs := drillStore(t, dir)
	b, _ := drillStore(t, dir)
	st, err := loadState(ctx, a, drillConn)
	if err != nil || len(st.Records) != 1 {
		t.Errorf("Load: %+v, %v; want the seeded lockdown", st, err)
	}
	exclusive(t, a, b)
	if !strings.Contains(logs.String(), "no use table") {
		t.Errorf("no warning that the use table cannot be had:\n%s", logs.String())
	}
	err = state.Update(ctx, a, drillConn, func(*state.State) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "jongler: state") {
		t.Errorf("Update: %v; want a clear error", err)
	} else {
		t.Logf("Update: %v", err)
	}
	_, err = a.Acquire(ctx, drillConn, []string{"k4"}, 1)
	if err == nil || !strings.Contains(err.Error(), `jongler: lease "k4"`) {
		t.Errorf("Acquire of a key without a lock file: %v; want a clear error", err)
	} else {
		t.Logf("Acquire of a new key: %v", err)
	}
	if _, err := jongler.NewFileStore(filepath.Join(dir, "sub"), nil); err == nil || !strings.Contains(err.Error(), "jongler: state directory") {
		t.Errorf("NewFileStore below the read-only directory: %v", err)
	}

	// A transport: k1 is refused with a per-minute quota, whose lockdown
	// cannot be recorded; the request goes on with k2 and succeeds.
	refusal := fixture(t, "gemini/429-per-minute-tokens-free.json")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == "ro-secret-1" {
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(refusal)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	var tlogs syncBuffer
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "k1", Value: "ro-secret-1"}, jongler.Key{Name: "k2", Value: "ro-secret-2"}),
		jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL), jongler.WithConnectorsDir(t.TempDir()),
		jongler.WithLogger(slog.New(slog.NewTextHandler(&tlogs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	for range 4 {
		if resp, got := post(t, tr, u.URL+genPath, "{}"); resp.StatusCode != 200 {
			t.Errorf("through a read-only state directory: %d %s", resp.StatusCode, got)
		}
	}
	// One warning for the condition, and the lockdown kept in memory: k1
	// is not sent again while it cools down.
	if n := strings.Count(tlogs.String(), "cannot write key states"); n != 1 {
		t.Errorf("%d warnings that the lockdown could not be recorded, want 1:\n%s", n, tlogs.String())
	}
	if used := u.sent("ro-secret-1"); used != 1 {
		t.Errorf("k1 sent %d times; want once, its lockdown kept in memory", used)
	}
	if strings.Contains(tlogs.String(), "ro-secret") {
		t.Error("a key value in the logs")
	}
}
