package drills_test

import (
	"context"
	"os"
	"testing"

	"github.com/api-jongler/jongler/internal/testmain"
	"github.com/redis/go-redis/v9"
)

// roleEnv names, in a child process of a drill, the part it plays; a
// drill's child test skips unless it is set to its part.
const roleEnv = "JONGLER_TEST_DRILL_ROLE"

// silent is a go-redis logger that logs nothing: go-redis logs every failed
// dial, and the Redis drills stop Redis on purpose.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(silent{})
	if os.Getenv(roleEnv) != "" {
		// A child of a drill: killed or stopped mid-flight by design,
		// with connections open; the parent checks what matters.
		os.Exit(m.Run())
	}
	testmain.Main(m)
}
