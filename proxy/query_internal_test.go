package proxy

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzQueryValue: queryValue finds what url.ParseQuery's Get and Has find,
// for any query and name: the token check and the rewrite read the query
// with it, and must see every credential ParseQuery would.
func FuzzQueryValue(f *testing.F) {
	for _, seed := range []struct{ raw, name string }{
		{"", "key"},
		{"key=tok", "key"},
		{"alt=sse&key=tok", "key"},
		{"k%65y=tok&key=other", "key"},
		{"key=a;b&key=c", "key"},
		{"key=%zz&key=ok", "key"},
		{"%zz=1&key", "key"},
		{"key&key=x", "key"},
		{"=x&&key=+a%20b", "key"},
		{"api_key=1&API_KEY=2", "api_key"},
		{"a=1&=2", ""},
		{strings.Repeat("a=1&", maxScannedParams) + "key=tok", "key"},
	} {
		f.Add(seed.raw, seed.name)
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		q, _ := url.ParseQuery(raw)
		v, ok := queryValue(raw, name)
		if v != q.Get(name) || ok != q.Has(name) {
			t.Errorf("queryValue(%q, %q) = %q, %v; url.ParseQuery: %q, %v", raw, name, v, ok, q.Get(name), q.Has(name))
		}
	})
}

// TestBufferPool: the pool lends buffers of the reverse proxy's size,
// takes back only those, and lends again what it took back.
func TestBufferPool(t *testing.T) {
	var p bufferPool
	buf := p.Get()
	if len(buf) != copyBufferSize || cap(buf) != copyBufferSize {
		t.Fatalf("buffer of %d bytes (cap %d), want %d", len(buf), cap(buf), copyBufferSize)
	}
	p.Put(buf)
	p.Put(make([]byte, 10)) // not one of ours: dropped, not a panic
	if got := p.Get(); len(got) != copyBufferSize {
		t.Fatalf("buffer of %d bytes after Put, want %d", len(got), copyBufferSize)
	}
}
