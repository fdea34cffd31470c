// Package testmain runs a package's tests as goleak.VerifyTestMain does,
// with the per-user files the code under test writes kept in a directory
// of the run's own: tests refuse keys for good, and the fingerprint
// secret that makes is theirs, not the user's (~/.config/apijongler).
package testmain

import (
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/goleak"

	"github.com/api-jongler/jongler/internal/fpsecret"
)

// Main runs m's tests, then fails them if goroutines outlive them (opts as
// goleak's), and exits with their code.
func Main(m interface{ Run() int }, opts ...goleak.Option) {
	os.Exit(Run(m, opts...))
}

// Run is Main without the exit: it returns the tests' code. Processes the
// tests start inherit the directory.
func Run(m interface{ Run() int }, opts ...goleak.Option) int {
	if os.Getenv(fpsecret.EnvFile) == "" {
		dir, err := os.MkdirTemp("", "apijongler-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testmain:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		os.Setenv(fpsecret.EnvFile, filepath.Join(dir, "fingerprint.key"))
	}
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := goleak.Find(opts...); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: errors on a successful test run: %v\n", err)
		return 1
	}
	return 0
}
