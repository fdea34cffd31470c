package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestBodyStalled: a client that sends part of its body and then nothing
// gets 408 once a read has waited bodyIdle, and nothing goes upstream; a
// client that keeps sending is not cut.
func TestBodyStalled(t *testing.T) {
	var upstream atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		w.Write([]byte("{}"))
	}))
	defer up.Close()
	tr, err := jongler.NewTransport("gemini", jongler.WithKeys(jongler.Key{Name: "k", Value: "idle-secret-value-1"}),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h, err := New([]*jongler.Transport{tr})
	if err != nil {
		t.Fatal(err)
	}
	h.bodyIdle = time.Second
	ps := httptest.NewServer(h)
	defer ps.Close()

	conn, err := net.Dial("tcp", ps.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not waits
	conn.Write([]byte("POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"contents\""))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || upstream.Load() != 0 {
		t.Fatalf("status %d, %d requests upstream; want 408 and none", resp.StatusCode, upstream.Load())
	}

	// A body that keeps coming, byte by byte, passes.
	conn2, err := net.Dial("tcp", ps.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.SetDeadline(time.Now().Add(30 * time.Second))
	body := `{"contents":[]}`
	conn2.Write([]byte("POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n"))
	for i := range body {
		time.Sleep(10 * time.Millisecond)
		conn2.Write([]byte{body[i]})
	}
	resp, err = http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || upstream.Load() != 1 {
		t.Fatalf("a slow body: status %d, %d requests upstream; want 200 and one", resp.StatusCode, upstream.Load())
	}
}
