package main

import (
	"bufio"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/jonglertest"
)

// rawUpstream listens on 127.0.0.1 and answers each request on a
// connection with answer(model, key), written as it is: an upstream that
// breaks HTTP at will. It stops with the test.
func rawUpstream(t *testing.T, answer func(model, key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					if _, err := c.Write([]byte(answer(modelOf(req.URL.Path), req.Header.Get("X-Goog-Api-Key")))); err != nil {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// TestStdLogRedacted: an upstream that sends the key after an answer that
// has no body (a 204, a 304) or past its Content-Length makes net/http log
// "Unsolicited response received on idle HTTP channel" with the bytes it
// got, through the standard library's log package, not serve's logger.
// Neither serve's stderr nor the request command's holds the key.
func TestStdLogRedacted(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	up := rawUpstream(t, func(model, key string) string {
		switch model {
		case "nocontent":
			return "HTTP/1.1 204 No Content\r\n\r\n" + key
		case "notmodified":
			return "HTTP/1.1 304 Not Modified\r\n\r\n" + key
		}
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" + key
	})
	e.aimAt(up)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	models := []string{"nocontent", "notmodified", "overlong"}
	for _, m := range models {
		code, _, _ := call(t, "POST", p.url+"/v1beta/models/"+m+":generateContent", serveToken, serveBody)
		if code >= 500 {
			t.Errorf("%s: %d", m, code)
		}
	}
	// net/http logs once its reader sees the bytes after the answer.
	for end := time.Now().Add(10 * time.Second); strings.Count(p.stderr.String(), "Unsolicited response") < len(models) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t, syscall.SIGTERM)
	stderr := p.stderr.String()
	if n := strings.Count(stderr, "Unsolicited response"); n < len(models) {
		t.Errorf("serve's stderr has %d lines of net/http's, want %d:\n%s", n, len(models), stderr)
	}
	e.noSecrets("serve's stderr", stderr)

	for _, m := range models {
		cmd := exec.Command("apijongler", "testgemini", "POST", "/v1beta/models/"+m+":generateContent", serveBody)
		cmd.Env = e.env
		var out strings.Builder
		cmd.Stderr = &out
		cmd.Run()
		e.noSecrets("the request command's stderr ("+m+")", out.String())
	}
}
