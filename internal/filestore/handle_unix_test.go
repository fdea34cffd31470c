//go:build unix

package filestore

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The file store keeps each slot's lock file open for its life (a lease is
// then a flock and an unlock, no open or close). Two drills for what a
// descriptor kept open could get wrong.

// A child process started while a lease is held must not inherit the lock
// file's descriptor: it would keep the flock, and so the lease, alive after
// the holder died, for as long as the child runs.
func TestDrillChildDoesNotKeepLease(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDrillChildDoesNotKeepLeaseHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), roleEnv+"=cloexec-holder", "JONGLER_TEST_CLOEXEC_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// The holder prints the pid of the grandchild it started while
	// holding k1.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if pid, ok := strings.CutPrefix(sc.Text(), "grandchild "); ok {
				lines <- pid
				break
			}
		}
		close(lines)
	}()
	var grandchild int
	select {
	case pid, ok := <-lines:
		if !ok {
			cmd.Wait() // stderr is written until the holder ends
			t.Fatalf("the holder ended without saying it held k1:\n%s", stderr.String())
		}
		if grandchild, err = strconv.Atoi(pid); err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the holder never held k1:\n%s", stderr.String())
	}
	defer syscall.Kill(grandchild, syscall.SIGKILL)

	ctx := context.Background()
	store, _ := openStore(t, dir)
	keys := []string{"k1"}
	if l, _ := store.Acquire(ctx, drillConn, keys, 1); l != nil {
		t.Fatal("k1 leasable while the holder holds it")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	lease := acquireWithin(t, store, keys, 5*time.Second)
	if syscall.Kill(grandchild, 0) != nil {
		t.Fatal("the grandchild is gone: the drill proves nothing")
	}
	if lease == nil {
		t.Fatal("k1 not leasable 5s after its holder died: the child it started keeps the lease")
	}
	lease.Release(ctx)
}

// TestDrillChildDoesNotKeepLeaseHolder leases k1, starts a long-lived child
// process, says so, and waits to be killed.
func TestDrillChildDoesNotKeepLeaseHolder(t *testing.T) {
	if os.Getenv(roleEnv) != "cloexec-holder" {
		t.Skip("child process of TestDrillChildDoesNotKeepLease")
	}
	store, err := New(os.Getenv("JONGLER_TEST_CLOEXEC_DIR"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// k1's descriptor is opened by a first lease and kept, as a
	// long-lived transport's would be.
	l, err := store.Acquire(ctx, drillConn, []string{"k1"}, 1)
	if err != nil || l == nil {
		t.Fatalf("Acquire: %v, %v", l, err)
	}
	l.Release(ctx)
	if l, err = store.Acquire(ctx, drillConn, []string{"k1"}, 1); err != nil || l == nil {
		t.Fatalf("Acquire: %v, %v", l, err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("grandchild " + strconv.Itoa(sleeper.Process.Pid) + "\n")
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

// After the keys directory is removed (rm -r keys/), a store that kept the
// old lock files open must not lease a key that another store holds on a
// new lock file.
func TestDrillKeysDirRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, logs := openStore(t, dir)
	b, _ := openStore(t, dir)
	// a opens every slot file and keeps it open.
	exclusive(t, a, b)
	if err := os.RemoveAll(filepath.Join(dir, drillConn, "keys")); err != nil {
		t.Fatal(err)
	}
	// A new store (a process started now) makes new lock files.
	c, _ := openStore(t, dir)
	held, err := c.Acquire(ctx, drillConn, []string{"k1"}, 1)
	if err != nil || held == nil {
		t.Fatalf("c: Acquire: %v, %v", held, err)
	}
	for range 3 {
		if l, err := a.Acquire(ctx, drillConn, []string{"k1"}, 1); l != nil || err != nil {
			t.Fatalf("k1 leased by a store holding an old lock file (%v, %v) while another holds it on the new one", leaseKey(l), err)
		}
	}
	// Refused by the flock on the new file, not taken on the old one
	// (which the use table's lease count would then take for a dead
	// holder's).
	if strings.Contains(logs.String(), "died holding") {
		t.Errorf("a took k1 on its old lock file:\n%s", logs.String())
	}
	held.Release(ctx)
	exclusive(t, a, c)
	exclusive(t, c, b)
	exclusive(t, b, a)
}
