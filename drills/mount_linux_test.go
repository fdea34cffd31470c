package drills_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// mountDirEnv names, in a child of inMountNamespace, the state directory
// it mounts over.
const mountDirEnv = "JONGLER_TEST_MOUNT_DIR"

// inMountNamespace runs the test child of this binary as role, on the
// state directory dir, in a mount namespace of its own, where it may mount
// over dir without touching the machine's. A root without the right to
// mount (the child's output holds noMount, or unshare is refused) skips,
// saying so; the child's failure fails the test.
func inMountNamespace(t *testing.T, child, role, dir, noMount, what string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+child+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, mountDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || strings.Contains(string(out), noMount) {
		t.Skipf("NOT RUN: root without the right to mount (%v): no %s can be made here\n%s", err, what, out)
	}
	t.Logf("child, with %s:\n%s", what, out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

// mountChildDir skips t unless this process is the child that
// inMountNamespace started for the test parent as role, and returns the
// state directory it is to mount over.
func mountChildDir(t *testing.T, role, parent string) string {
	t.Helper()
	if os.Getenv(roleEnv) != role {
		t.Skip("child process of " + parent)
	}
	return os.Getenv(mountDirEnv)
}
