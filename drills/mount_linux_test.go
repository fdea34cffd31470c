package drills_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// inMountNamespace runs the test child of this binary as role, with env
// (NAME=VALUE) added, in a mount namespace of its own, where it may mount
// over the state directory without touching the machine's. A root without
// the right to mount (the child's output holds noMount, or unshare is
// refused) skips, saying so; the child's failure fails the test.
func inMountNamespace(t *testing.T, child, role, env, noMount, what string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+child+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, env)
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
