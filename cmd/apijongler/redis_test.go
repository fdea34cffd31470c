package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/redisstore"
)

// scriptRedis is the redis-server the scripts share, with a password, one
// database per script: $REDIS_URL names it, password included, and
// $REDIS_PASSWORD is the password, which starts with litSecret so that aj
// fails if it is ever printed.
type scriptRedis struct {
	srv      *redistest.Server
	password string
	mu       sync.Mutex
	next     int
	dbs      map[string]int // by work directory
}

// startRedis starts the scripts' Redis; under go test -short without
// redis-server it returns nil, and the scripts that need Redis skip.
func startRedis(t *testing.T) *scriptRedis {
	if testing.Short() && redistest.Missing() != "" {
		return nil
	}
	srv := redistest.Start(t)
	rs := &scriptRedis{srv: srv, password: litSecret + "redis-" + rand.Text(), dbs: map[string]int{}}
	if err := srv.Client(t).ConfigSet(t.Context(), "requirepass", rs.password).Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func (rs *scriptRedis) setup(env *testscript.Env) error {
	if rs == nil {
		return nil
	}
	rs.mu.Lock()
	db := rs.next % 16
	rs.next++
	rs.dbs[env.WorkDir] = db
	rs.mu.Unlock()
	env.Setenv("REDIS_URL", fmt.Sprintf("redis://:%s@%s/%d", rs.password, rs.srv.Addr, db))
	env.Setenv("REDIS_ADDR", rs.srv.Addr)
	return nil
}

// cmdScan: redisscan: the script's Redis database holds some keys, and no
// test key value nor any part of one.
func (rs *scriptRedis) cmdScan(ts *testscript.TestScript, neg bool, args []string) {
	rs.mu.Lock()
	db := rs.dbs[ts.Getenv("WORK")]
	rs.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: rs.srv.Addr, Password: rs.password, DB: db})
	defer c.Close()
	dump, err := redistest.Dump(context.Background(), c)
	if err != nil {
		ts.Fatalf("scan redis: %v", err)
	}
	if strings.TrimSpace(dump) == "" {
		ts.Fatalf("redis database %d is empty: the store wrote nothing", db)
	}
	if what := getHarness(ts).leaks(dump); what != "" {
		ts.Fatalf("redis holds %s", what)
	}
	ts.Logf("redis database %d: %d entries, no key value", db, strings.Count(dump, "\n"))
}

// TestServeRedisStoreStatus runs two `serve` processes with state directories of
// their own and one Redis (--store, $APIJONGLER_STORE): no key is used by
// two requests at once across them, a refusal one records shows in the
// other's /status, and Redis holds no key value.
func TestServeRedisStoreStatus(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{Latency: 3 * time.Millisecond, StreamGap: -1}, 3)
	rs := redistest.Start(t)
	url := "redis://" + rs.Addr + "/0?lease_ttl=2s"
	p1 := e.start([]string{storeEnv + "=" + url, jongler.StateDirEnv + "=" + t.TempDir()}, "--listen", "127.0.0.1:0")
	p2 := e.start([]string{jongler.StateDirEnv + "=" + t.TempDir()}, "--listen", "127.0.0.1:0", "--store", url)
	const perWorker = 8
	var targets []target
	for range 3 {
		targets = append(targets, target{http.DefaultClient, p1.url}, target{http.DefaultClient, p2.url})
	}
	generateFrom(t, perWorker, targets...)
	st := e.srv.Stats()
	if st.Successes != 6*perWorker || st.Overlaps != 0 {
		t.Fatalf("upstream %+v, overlaps %d: want %d successes and no key used twice at once", st.Counts, st.Overlaps, 6*perWorker)
	}

	// key1 is revoked; p1 meets the refusal, p2's /status shows it.
	e.srv.Invalidate("key1")
	for range 3 {
		if code, body, _ := call(t, "POST", p1.url+serveGen, "", serveBody); code != 200 {
			t.Fatalf("p1 after key1's revocation: %d %s", code, body)
		}
	}
	// p2 may answer from the state it read up to 100 ms ago
	// (redisstore.DefaultStateMaxAge).
	time.Sleep(redisstore.DefaultStateMaxAge + 50*time.Millisecond)
	code, body, _ := call(t, "GET", p2.url+"/status", "", "")
	var rows []keyStatus
	if code != 200 || json.Unmarshal([]byte(body), &rows) != nil {
		t.Fatalf("p2 /status: %d %s", code, body)
	}
	found := false
	for _, r := range rows {
		if r.Key == "key1" {
			found = r.State == jongler.StateError
		}
	}
	if !found {
		_, b1, _ := call(t, "GET", p1.url+"/status", "", "")
		t.Logf("upstream key1: %+v; p1's /status: %s", e.srv.Stats().Keys["key1"], b1)
		t.Fatalf("p2's /status does not show key1 refused by p1's upstream: %s", body)
	}
	p1.stop(t, syscall.SIGTERM)
	p2.stop(t, syscall.SIGTERM)

	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer c.Close()
	dump, err := redistest.Dump(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range e.keys {
		if strings.Contains(dump, k.Value) {
			t.Errorf("Redis holds the value of %s", k.Label)
		}
	}
}
