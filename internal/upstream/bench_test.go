package upstream

import (
	"strings"
	"testing"
)

func BenchmarkGoogle(b *testing.B) { benchFixtures(b, "gemini", Google) }

func BenchmarkHuggingFace(b *testing.B) { benchFixtures(b, "huggingface", HuggingFace) }

// benchFixtures times classify on each fixture of service, a sub-benchmark
// a fixture.
func benchFixtures(b *testing.B, service string, classify func(int, []byte) Answer) {
	for _, fx := range fixtures(b, service) {
		b.Run(strings.TrimSuffix(strings.TrimPrefix(fx.name, service+"/"), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fx.body)))
			for b.Loop() {
				classify(fx.status, fx.body)
			}
		})
	}
}
