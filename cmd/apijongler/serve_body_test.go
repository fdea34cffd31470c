package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// TestServeBodyDripINI: with body_timeout in the INI file's [serve]
// section, a client dripping its body one byte every 20 ms (each read
// well within the per-read bound) gets 408 once the body's whole bound
// passes, and nothing goes upstream.
func TestServeBodyDripINI(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	ini := filepath.Join(e.dir, "keys.ini")
	keys, err := os.ReadFile(ini)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ini, append(keys, "\n[serve]\nbody_timeout = 400ms\nmax_buffered_bytes = 100000000\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.start(nil, "--listen", "127.0.0.1:0")
	conn := dialFrom(t, "127.0.0.1", p.url)
	io.WriteString(conn, "POST "+serveGen+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	if err != nil {
		t.Fatalf("no answer: %v\n%s", err, p.stderr)
	}
	resp.Body.Close()
	p.stop(t, syscall.SIGTERM)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if st := e.srv.Stats(); st.Requests != 0 {
		t.Errorf("%d requests went upstream", st.Requests)
	}
}
