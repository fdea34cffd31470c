package redisstore

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the tests that stop Redis check
	// the errors the store returns instead.
	redis.SetLogger(quietLog{})
	goleak.VerifyTestMain(m)
}
