//go:build linux

package drills_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/filestore"
	"github.com/api-jongler/jongler/internal/state"
)

// A read-only state directory. Tests run as root in CI, where file modes
// stop nothing, so as root the directory is made read-only by a read-only
// bind mount over it, in a child process with a mount namespace of its own
// (Unshareflags CLONE_NEWNS; the mount vanishes with the child). As
// another user, modes do it: 0500 directories, 0400 files.

const readOnlyDirEnv = "JONGLER_TEST_READONLY_DIR"

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
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDrillReadOnlyChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), roleEnv+"=read-only", readOnlyDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || strings.Contains(string(out), "no read-only mount:") {
		t.Skipf("running as root without the right to mount (%v): a read-only state directory cannot be made here\n%s", err, out)
	}
	t.Logf("child, with a read-only bind mount over the state directory:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

// TestDrillReadOnlyChild makes the state directory read-only by a bind
// mount in its own mount namespace, then runs the checks.
func TestDrillReadOnlyChild(t *testing.T) {
	if os.Getenv(roleEnv) != "read-only" {
		t.Skip("child process of TestDrillReadOnlyStateDir")
	}
	dir := os.Getenv(readOnlyDirEnv)
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

// drillConn is the connector of the drill's own leases, drillKeys its keys.
const drillConn = "drill.example"

var drillKeys = []string{"k1", "k2", "k3"}

// drillStore opens a file store on dir whose warnings go to the returned
// buffer.
func drillStore(t *testing.T, dir string) (*jongler.FileStore, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	s, err := jongler.NewFileStore(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

// drillSeed writes a healthy state directory: every key of drillConn
// leased once (its lock files exist), and k3 in lockdown.
func drillSeed(t *testing.T, dir string) {
	t.Helper()
	s, _ := drillStore(t, dir)
	ctx := context.Background()
	var held []jongler.Lease
	for range drillKeys {
		l, err := s.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil || l == nil {
			t.Fatalf("seeding: %v, %v", l, err)
		}
		held = append(held, l)
	}
	for _, l := range held {
		l.Release(ctx)
	}
	err := state.Update(ctx, s, drillConn, func(st *state.State) error {
		st.Records = append(st.Records, state.Record{Key: "k3", State: state.Lockdown, Until: time.Now().Add(time.Hour), Reason: "drill"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exclusive checks that two stores on one directory never lease one key
// at once: a takes every key it can, b must get none; then, all given
// back, b gets one within the rest of a key whose holder is gone.
func exclusive(t *testing.T, a, b *jongler.FileStore) {
	t.Helper()
	ctx := context.Background()
	var held []jongler.Lease
	for range drillKeys {
		l, err := a.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if l == nil {
			break
		}
		held = append(held, l)
	}
	if len(held) == 0 {
		t.Fatal("no key leasable at all")
	}
	if l, err := b.Acquire(ctx, drillConn, drillKeys, 1); err != nil {
		t.Fatalf("Acquire by a second store: %v", err)
	} else if l != nil {
		t.Fatalf("a second store leased %s while the first held every key", l.Key())
	}
	for _, l := range held {
		l.Release(ctx)
	}
	deadline := time.Now().Add(3 * filestore.DeadHolderRest)
	for {
		l, err := b.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil {
			t.Fatalf("Acquire after release: %v", err)
		}
		if l != nil {
			l.Release(ctx)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no key leasable after the first store released them all")
		}
		time.Sleep(10 * time.Millisecond)
	}
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
