package upstream

import (
	"strings"
	"testing"
)

func BenchmarkGoogle(b *testing.B) {
	for _, fx := range fixtures(b, "gemini") {
		b.Run(strings.TrimSuffix(strings.TrimPrefix(fx.name, "gemini/"), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fx.body)))
			for b.Loop() {
				Google(fx.status, fx.body)
			}
		})
	}
}

func BenchmarkHuggingFace(b *testing.B) {
	for _, fx := range fixtures(b, "huggingface") {
		b.Run(strings.TrimSuffix(strings.TrimPrefix(fx.name, "huggingface/"), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fx.body)))
			for b.Loop() {
				HuggingFace(fx.status, fx.body)
			}
		})
	}
}
