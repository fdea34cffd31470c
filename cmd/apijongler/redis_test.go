package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/api-jongler/jongler/internal/redistest"
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

func startRedis(t *testing.T) *scriptRedis {
	srv := redistest.Start(t)
	rs := &scriptRedis{srv: srv, password: litSecret + "redis-" + rand.Text(), dbs: map[string]int{}}
	if err := srv.Client(t).ConfigSet(t.Context(), "requirepass", rs.password).Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func (rs *scriptRedis) setup(env *testscript.Env) error {
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
