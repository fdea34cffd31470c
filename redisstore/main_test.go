package redisstore

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("JONGLER_TEST_FLEET_ROLE") != "" || os.Getenv("JONGLER_TEST_FREETIER_ROLE") != "" {
		// A member of the fleet drill: killed or stopped mid-flight by
		// design; the parent checks what matters.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
