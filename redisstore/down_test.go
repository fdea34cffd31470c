package redisstore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
)

// TestRedisDown: with Redis gone, a request fails with an error naming the
// store (no fallback to an unshared state); when Redis is back, requests
// work again by themselves.
func TestRedisDown(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"candidates":[]}`))
	}))
	defer up.Close()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: 1, DialerRetries: 1})
	defer client.Close()
	const ttl = 500 * time.Millisecond
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "a", Value: "down-secret-a-0123456789"}),
		jongler.WithStore(redisstore.New(client, redisstore.WithTTL(ttl), redisstore.WithPrefix(freshPrefix()))),
		jongler.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	send := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, up.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := send(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	err = send(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "redisstore: redis at "+srv.Addr) {
		t.Fatalf("request with Redis down: %v; want an error naming the store", err)
	}
	t.Logf("Redis down: %v", err)
	srv.Restart()
	// Back by itself: after the restart quiet (the server is new).
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := send(5 * time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests still fail after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHungRedisBoundedByDeadline: a Redis that accepts connections and
// never answers holds a request no longer than its deadline.
func TestHungRedisBoundedByDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				c.Close()
			}()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ContextTimeoutEnabled: true, ReadTimeout: time.Minute, MaxRetries: -1})
	defer client.Close()
	s := redisstore.New(client)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Acquire(ctx, "c", []string{"k"}, 1)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "redisstore: redis at "+l.Addr().String()) {
		t.Fatalf("acquire on a hung Redis: %v; want the deadline, naming the store", err)
	}
}
