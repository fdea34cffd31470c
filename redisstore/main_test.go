package redisstore

import (
	"context"
	"testing"

	"github.com/api-jongler/jongler/internal/testmain"
	"github.com/redis/go-redis/v9"
)

type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the tests that stop Redis check
	// the errors the store returns instead.
	redis.SetLogger(quietLog{})
	testmain.Main(m)
}
