package route_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Started at init by a dependency of the genai SDK, for good.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
