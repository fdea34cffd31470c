package proxy_test

import (
	"testing"

	"github.com/api-jongler/jongler/internal/testmain"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testmain.Main(m,
		// Started at init by a dependency of the genai SDK, for good.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}
