package phantom

import "testing"

// BenchmarkGenerate times one standard phantom (512×512×84), all cores.
func BenchmarkGenerate(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Generate(uint64(i))
	}
}
