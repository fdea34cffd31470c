//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// The files that decide where keys go are guarded like the state, and no
// file can stop serve from stopping.

// runServe runs `apijongler serve` in e's environment and returns its exit
// code and standard error, failing t if it has not exited within 10 s.
func (e *serveEnv) runServe(t *testing.T) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apijongler", "serve", "--listen", "127.0.0.1:0")
	cmd.Env = e.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve still running after 10 s (killed); stderr:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// waitStderr waits up to 10 s for p's standard error to hold want.
func (p *serveProc) waitStderr(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("serve exited waiting for %q:\n%s", want, p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 10 s; stderr:\n%s", want, p.stderr)
		}
	}
}

// holdFIFO opens the write end of the FIFO at path as soon as serve has
// opened its read end (an open for writing that does not block fails
// until then), and returns it: from then on serve's read waits for data
// that never comes. It returns nil if refused() comes true first (serve
// refused the FIFO), and fails t after 10 s.
func holdFIFO(t *testing.T, path string, stderr *lockedBuffer, refused func() bool) *os.File {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		switch {
		case err == nil:
			return f
		case refused():
			t.Logf("serve refused the FIFO: %s", stderr)
			return nil
		case time.Now().After(deadline):
			t.Fatalf("serve did not open the FIFO within 10 s: %v; stderr:\n%s", err, stderr)
		}
	}
}

// TestServeConnectorFilesGuarded: a FIFO named *.json, or a connectors
// directory others may write, stops serve at start with exit 2 and one line
// naming it (a FIFO used to hang serve for ever); planted before a SIGHUP,
// the reload fails with that line, serve goes on with the configuration
// before, and SIGTERM stops it.
func TestServeConnectorFilesGuarded(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	conns := filepath.Join(e.dir, "connectors")
	fifo := filepath.Join(conns, "planted.json")
	plantFIFO := func() {
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		// Should serve block opening it, a writer frees it at the end.
		t.Cleanup(func() {
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
	}

	t.Run("start", func(t *testing.T) {
		plantFIFO()
		defer os.Remove(fifo)
		code, stderr := e.runServe(t)
		if code != exitUsage || !strings.Contains(stderr, "connector file "+fifo+" is not a regular file") {
			t.Fatalf("exit %d, stderr %q: want exit 2 naming %s", code, stderr, fifo)
		}
		os.Chmod(conns, 0o777)
		defer os.Chmod(conns, 0o755)
		code, stderr = e.runServe(t)
		if code != exitUsage || !strings.Contains(stderr, "connectors directory "+conns+" is writable by group or others") || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Fatalf("exit %d, stderr %q: want exit 2 naming %s", code, stderr, conns)
		}
	})

	t.Run("reload", func(t *testing.T) {
		p := e.start(nil, "--listen", "127.0.0.1:0")
		plantFIFO()
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitStderr(t, "reload failed")
		if !strings.Contains(p.stderr.String(), "connector file "+fifo+" is not a regular file") {
			t.Fatalf("the failed reload does not name %s:\n%s", fifo, p.stderr)
		}
		if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
			t.Fatalf("after the failed reload: %d %s", code, body)
		}
		p.stop(t, syscall.SIGTERM)
	})
}

// TestServeStopsDuringStuckReload: a SIGHUP whose reload blocks reading a
// file (here the INI file replaced by a FIFO a writer holds open and never
// writes to: the read waits for ever) leaves serve serving the
// configuration before; a second SIGHUP is refused while the first runs;
// SIGTERM still stops serve, with exit 0.
func TestServeStopsDuringStuckReload(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0")
	ini := filepath.Join(e.dir, "keys.ini")
	os.Remove(ini)
	if err := syscall.Mkfifo(ini, 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	w := holdFIFO(t, ini, p.stderr, func() bool { return strings.Contains(p.stderr.String(), "reload failed") })
	if w == nil {
		// An INI reader that refuses a FIFO is fine too: the reload
		// cannot be stuck on it, and SIGTERM stops serve.
		p.stop(t, syscall.SIGTERM)
		return
	}
	defer w.Close()
	if code, body, _ := call(t, "POST", p.url+serveGen, "", serveBody); code != 200 {
		t.Fatalf("during the stuck reload: %d %s", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitStderr(t, "reload ignored: the reload before has not ended")
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), "shutting down with a reload still running; abandoned") {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
}

// TestServeStopsDuringStuckStart: SIGTERM stops a serve whose start blocks
// reading a file (the INI file is a FIFO nobody writes to), with exit 0
// and a line saying so.
func TestServeStopsDuringStuckStart(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	ini := filepath.Join(e.dir, "keys.ini")
	os.Remove(ini)
	if err := syscall.Mkfifo(ini, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("apijongler", "serve", "--listen", "127.0.0.1:0")
	cmd.Env = e.env
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	w := holdFIFO(t, ini, stderr, func() bool { return len(done) > 0 })
	if w == nil {
		// An INI reader that refuses a FIFO is fine too.
		if err := <-done; err == nil || !strings.Contains(stderr.String(), "keys.ini") {
			t.Fatalf("serve ended with %v without naming keys.ini:\n%s", err, stderr)
		}
		done <- nil
		return
	}
	defer w.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- nil
		if err != nil || !strings.Contains(stderr.String(), "stopped while reading the configuration") {
			t.Fatalf("exit %v; stderr:\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit within 10 s of SIGTERM; stderr:\n%s", stderr)
	}
}
