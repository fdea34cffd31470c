package jongler_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(xpRoleEnv) != "" {
		// A child of TestCrossProcess: killed or stopped mid-flight by
		// design, with connections open; the parent checks what matters.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m,
		// Started at init by a dependency of the genai SDK, for good.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
