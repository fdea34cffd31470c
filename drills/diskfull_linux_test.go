//go:build linux

package drills_test

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/api-jongler/jongler"
)

// The disk-full drill: the state directory is on a full file
// system. As root, a child process with a mount namespace of its own
// mounts a small tmpfs over the state directory and fills it: writes fail
// with ENOSPC, as on a real full disk. Not as root, no tmpfs can be
// mounted: the drill then says so in the test log and runs against a
// read-only state directory (mode 0500: EACCES), which takes the same
// path through the code.

func TestDrillDiskFull(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Log("NOT ROOT: no tmpfs can be mounted, so the disk is not really full here: " +
			"the drill runs against a state directory made read-only by its mode (EACCES) instead of ENOSPC. CI runs it as root.")
		diskFullChecks(t, dir, func() {
			conn := filepath.Join(dir, jongler.ConnectorGemini)
			os.Chmod(conn, 0o500)
			t.Cleanup(func() { os.Chmod(conn, 0o700) })
		})
		return
	}
	inMountNamespace(t, "TestDrillDiskFullChild", "disk-full", dir, "no tmpfs:", "a full tmpfs over the state directory")
}

// TestDrillDiskFullChild mounts a 1 MiB tmpfs over the state directory in
// its own mount namespace (the mount vanishes with it), then runs the
// checks, filling the file system once the transport has its files.
func TestDrillDiskFullChild(t *testing.T) {
	dir := mountChildDir(t, "disk-full", "TestDrillDiskFull")
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("no tmpfs: %v", err)
	}
	diskFullChecks(t, dir, func() {
		f, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the tmpfs: %v", err)
				}
				break
			}
		}
		t.Log("tmpfs full (ENOSPC)")
	})
}

// diskFullChecks: a transport whose state directory becomes unwritable
// (fill makes it so) after its first request. Key k1 is then refused with
// a per-minute quota, 40 times over; its lockdown cannot be written. It
// must be warned about once, and honoured in memory: k1 is not sent again.
func diskFullChecks(t *testing.T, dir string, fill func()) {
	refusal := fixture(t, "gemini/429-per-minute-tokens-free.json")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key == "df-secret-1" && r.URL.RawQuery != "seed" {
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(refusal)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	var logs syncBuffer
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "k1", Value: "df-secret-1"}, jongler.Key{Name: "k2", Value: "df-secret-2"}, jongler.Key{Name: "k3", Value: "df-secret-3"}),
		jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL),
		jongler.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Every key's files made while the disk has room.
	for range 3 {
		post(t, tr, u.URL+genPath+"?seed", "{}")
	}
	u.forget()
	fill()
	const requests = 40
	failed := 0
	for range requests {
		if resp, _ := post(t, tr, u.URL+genPath, "{}"); resp.StatusCode != 200 {
			failed++
		}
	}
	out := logs.String()
	warnings := strings.Count(out, "level=WARN")
	t.Logf("%d requests: %d failed, %d warnings, k1 sent %d times", requests, failed, warnings, u.sent("df-secret-1"))
	if failed != 0 {
		t.Errorf("%d of %d requests failed", failed, requests)
	}
	if n := strings.Count(out, "cannot write key states"); n != 1 {
		t.Errorf("%d warnings that key states cannot be written, want 1:\n%s", n, out)
	}
	if warnings > 2 {
		t.Errorf("%d warnings in all for one condition:\n%s", warnings, out)
	}
	if n := u.sent("df-secret-1"); n > 1 {
		t.Errorf("k1 sent %d times; want at most once, its lockdown kept in memory", n)
	}
	if strings.Contains(out, "df-secret") {
		t.Error("a key value in the logs")
	}
}
