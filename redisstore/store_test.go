package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redistest"
	"github.com/api-jongler/jongler/redisstore"
	"github.com/api-jongler/jongler/storetest"
)

var prefixes atomic.Int64

// freshPrefix returns a key prefix no other test uses.
func freshPrefix() string {
	return fmt.Sprintf("test%d-%d:", time.Now().UnixNano(), prefixes.Add(1))
}

// TestStoreConformance holds the Redis store to the contract every store
// keeps, on a real redis-server.
func TestStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	storetest.TestStore(t, func(t *testing.T) jongler.Store {
		// A fresh prefix is a fresh connector: no restart quiet for it,
		// since no lease can predate it.
		return redisstore.New(client, redisstore.WithPrefix(freshPrefix()), redisstore.WithRestartQuiet(0))
	})
}
