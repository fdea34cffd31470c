package redisstore

import (
	"context"
	"os"
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
	if os.Getenv("JONGLER_TEST_FLEET_ROLE") != "" || os.Getenv("JONGLER_TEST_FREETIER_ROLE") != "" {
		// A member of the fleet drill: killed or stopped mid-flight by
		// design; the parent checks what matters.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
