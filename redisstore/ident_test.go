package redisstore_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
)

// TestKeyNameReuseOnRedis: two fleets on one Redis and one prefix that use
// the name key1 for different values: the first to lease claims the name,
// the second is refused with an error naming key1 and the Redis store. After
// a refusal for good, no Redis key holds the fingerprint secret.
func TestKeyNameReuseOnRedis(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "fingerprint.key")
	t.Setenv("APIJONGLER_FINGERPRINT_KEY_FILE", keyFile)
	const bad = "fleet-a-bad-value-0123456789"
	invalid, err := os.ReadFile("../testdata/fixtures/gemini/400-api-key-invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") == bad {
			w.WriteHeader(400)
			w.Write(invalid)
			return
		}
		w.Write([]byte(`{"candidates":[]}`))
	}))
	defer up.Close()
	srv := redistest.Start(t)
	prefix := freshPrefix()
	open := func(value string) *jongler.Transport {
		tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithMaxWait(-1),
			jongler.WithKeys(jongler.Key{Name: "key1", Value: value}),
			jongler.WithStore(redisstore.New(srv.Client(t), redisstore.WithPrefix(prefix), redisstore.WithRestartQuiet(0))),
			jongler.WithBaseURL(up.URL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	send := func(tr *jongler.Transport) (int, error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
			up.URL+"/v1beta/models/gemini-2.5-flash:generateContent", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	a := open("fleet-a-value-0123456789")
	if code, err := send(a); err != nil || code != 200 {
		t.Fatalf("fleet a: %d %v", code, err)
	}
	b := open("fleet-b-value-0123456789")
	if _, err := send(b); err == nil || !strings.Contains(err.Error(), "key key1 stands for another value") || !strings.Contains(err.Error(), "redis at "+srv.Addr) {
		t.Fatalf("fleet b reusing key1: %v, want a refusal naming key1 and the Redis store", err)
	}

	// A refusal for good under another prefix: its fingerprint is stored,
	// its secret is not.
	prefix = freshPrefix()
	if code, _ := send(open(bad)); code != 400 {
		t.Fatalf("bad key: %d", code)
	}
	text, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := hex.DecodeString(strings.TrimSpace(string(text)))
	client := srv.Client(t)
	keys, err := client.Keys(t.Context(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %v %v", keys, err)
	}
	fingerprinted := false
	for _, k := range keys {
		var dump string
		switch typ := client.Type(t.Context(), k).Val(); typ {
		case "string":
			dump = client.Get(t.Context(), k).Val()
		case "hash":
			dump = fmt.Sprint(client.HGetAll(t.Context(), k).Val())
		case "zset":
			dump = fmt.Sprint(client.ZRangeWithScores(t.Context(), k, 0, -1).Val())
		case "list":
			dump = fmt.Sprint(client.LRange(t.Context(), k, 0, -1).Val())
		case "set":
			dump = fmt.Sprint(client.SMembers(t.Context(), k).Val())
		default:
			t.Fatalf("Redis key %s of type %s", k, typ)
		}
		for _, form := range []string{`"secret"`, string(secret), hex.EncodeToString(secret)} {
			if strings.Contains(dump, form) {
				t.Fatalf("Redis key %s holds the fingerprint secret", k)
			}
		}
		fingerprinted = fingerprinted || strings.Contains(dump, `"fingerprint"`)
	}
	if !fingerprinted {
		t.Fatal("no fingerprint stored: the refusal was not recorded")
	}
}
