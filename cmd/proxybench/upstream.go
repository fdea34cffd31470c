package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// answer is the upstream's answer to every request but a stream: a short
// generateContent answer, sent with its Content-Length.
var answer = []byte(`{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}`)

// countingListener counts the connections it accepts: a front that reuses
// its upstream connections opens none while loaded.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// upstream is the zero-latency API every front sends to.
type upstream struct {
	URL string
	ln  *countingListener
	srv *http.Server
}

// startUpstream serves on a loopback port: a path with "stream" in it gets
// one server-sent event and is then held open until the client goes; any
// other, the answer at once.
func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{URL: "http://" + ln.Addr().String(), ln: &countingListener{Listener: ln}}
	u.srv = &http.Server{
		Handler:     http.HandlerFunc(u.serve),
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	go u.srv.Serve(u.ln)
	return u, nil
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if strings.Contains(r.URL.Path, "stream") {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {}\n\n"))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(answer)
}

// accepted returns how many connections the upstream has accepted.
func (u *upstream) accepted() int64 { return u.ln.accepted.Load() }

func (u *upstream) close() { u.srv.Close() }
