package redact

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
)

// chunkReader hands out data in chunks of the sizes given (cycled; a zero
// size is a read of nothing, but not three in a row), then io.EOF, with the last chunk when last.
type chunkReader struct {
	data   []byte
	sizes  []byte
	i      int
	last   bool // io.EOF comes with the last bytes
	closed bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])
		if r.i++; n == 0 && r.i%3 == 0 {
			n = 1 // a read of nothing now and then, never for ever
		}
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	if r.last && len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (r *chunkReader) Close() error { r.closed = true; return nil }

// FuzzRedactStream: a body read through a Reader, cut into any chunks
// and read with any buffer, is the body with the key replaced as if read
// whole (by the placeholder, or by as many '*' as on an upgraded
// connection); a body in which no byte may start the key is unchanged; the key
// written in each form promised is replaced. Run:
// go test -run '^$' -fuzz FuzzRedactStream ./internal/redact
func FuzzRedactStream(f *testing.F) {
	f.Add("AIzaSyD-0123456789abcdef", `data: {"text":"AIzaSyD-0123456789abcdef"}`+"\n\n", []byte{3, 1, 7}, uint8(5), true)
	f.Add("tok+/=?&%#\u00e9 xyz", `x=tok%2B%2F%3D%3F%26%25%23%C3%A9+xyz "tok+\/=?\u0026%#`+"\u00e9 xyz\"", []byte{1}, uint8(1), false)
	f.Add("%%%%", "%25%2525%252525%%%%2525252525", []byte{2, 0, 5}, uint8(3), false)
	f.Add("a", "aaaa%61%2561\\u0061\\u00", []byte{1, 2}, uint8(200), true)
	f.Add("ab", "a%6", []byte{2}, uint8(9), false)
	f.Fuzz(func(t *testing.T, key, text string, sizes []byte, bufSize uint8, last bool) {
		if key == "" || len(key) > 64 || len(text) > 8192 {
			return
		}
		red := New(key, "placeholder")
		sameLen := bufSize%2 == 1 // as on an upgraded connection
		wm := newMatcher(red)
		wm.sameLen = sameLen
		want := wm.replaceAll([]byte(text))
		if sameLen && len(want) != len(text) {
			t.Fatalf("%q became %q, of another length", text, want)
		}
		src := &chunkReader{data: []byte(text), sizes: sizes, last: last}
		b := NewReader(src, red)
		b.m.sameLen = sameLen
		var got []byte
		buf := make([]byte, max(int(bufSize), 1))
		for {
			n, err := b.Read(buf)
			got = append(got, buf[:n]...)
			if len(b.held) >= len(key)*streamFormMax && len(b.held) > 0 {
				t.Fatalf("%d bytes held back, for a key of %d", len(b.held), len(key))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("key %q, text %q in chunks %v, buffer %d:\n got %q\nwant %q", key, text, sizes, bufSize, got, want)
		}
		if b.Close(); !src.closed {
			t.Fatal("Close did not close the body")
		}
		m := newMatcher(red)
		if !m.mayStart([]byte(text)) && string(want) != text {
			t.Fatalf("no byte may start the key in %q, yet it became %q", text, want)
		}
		if strings.ContainsAny(key, "<>") {
			return
		}
		for _, enc := range []string{key, url.QueryEscape(key), url.PathEscape(key), url.QueryEscape(url.QueryEscape(key)), jsonEscape(key)} {
			s := "<" + enc + ">" + text
			if got := m.replaceAll([]byte(s)); !bytes.HasPrefix(got, []byte("<"+red.with+">")) {
				t.Fatalf("key %q written %q: got %q", key, s, got)
			}
		}
	})
}

// jsonEscape writes every ASCII byte of s as \u00XX, and any other as it
// is: the widest JSON escaping.
func jsonEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 {
			b.WriteString(`\u00`)
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestRedactStreamForms: each form of the key found in a body is replaced,
// as Redactor finds it in an error answer, and JSON's escapes too.
func TestRedactStreamForms(t *testing.T) {
	const key = "AIza/Sy+0 9_x"
	red := New(key, "apijongler")
	cases := []struct{ in, want string }{
		{`{"k":"AIza/Sy+0 9_x"}`, `{"k":"apijongler"}`},
		{`{"k":"AIza\/Sy+0 9_x"}`, `{"k":"apijongler"}`},
		{`{"k":"\u0041IZA/Sy\u002b0 9_x"}`, `{"k":"\u0041IZA/Sy\u002b0 9_x"}`}, // IZA is not Iza
		{`{"k":"\u0041Iza\u002fSy\u002B0\u00209_x"}`, `{"k":"apijongler"}`},
		{"u=AIza%2FSy%2B0+9_x&v=AIza%252FSy%252B0%25209_x", "u=apijongler&v=apijongler"},
		{"n=AIza%25252FSy%2B0+9_x", "n=apijongler"},
		{"too deep: AIza%2525252FSy%2B0+9_x", "too deep: AIza%2525252FSy%2B0+9_x"},
		{"cut: AIza/Sy+0 9_", "cut: AIza/Sy+0 9_"},
	}
	for _, c := range cases {
		got, err := io.ReadAll(NewReader(io.NopCloser(strings.NewReader(c.in)), red))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.in, got, err, c.want)
		}
		// Where Redactor finds the key (no JSON escape, depth 3 at most),
		// both agree.
		if !strings.Contains(c.in, `\`) && !strings.Contains(c.in, "too deep") && red.Replace(c.in) != c.want {
			t.Errorf("%s: Redactor gives %q", c.in, red.Replace(c.in))
		}
	}
}

// TestRedactStreamPrompt: a chunk that cannot start the key goes on at
// once; a tail that could is held back only until the next bytes show it
// does not; what is held back is shorter than the longest form.
func TestRedactStreamPrompt(t *testing.T) {
	const key = "secret-key-0123"
	red := New(key, "apijongler")
	pr, pw := io.Pipe()
	b := NewReader(pr, red)
	defer b.Close()
	buf := make([]byte, 1024)
	// step writes each of writes, one after the other, and reads once.
	step := func(want string, writes ...string) {
		t.Helper()
		go func() {
			for _, w := range writes {
				pw.Write([]byte(w))
			}
		}()
		n, err := b.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("wrote %q: read %q, %v; want %q", writes, buf[:n], err, want)
		}
	}
	step("data: {\"a\":1}\n\n", "data: {\"a\":1}\n\n") // no byte may start the key
	step("data: ", "data: se")                         // "se" may
	step("apijongler and ", "cret-key-0123 and s")
	step("so on\n\n", "o on\n\n")
	// A Read with nothing decided waits for the bytes that decide.
	step("%73x", "%7", "3x")
	step("%73%65%63%72%65%74%2Dkey-0124", "%73%65%63%72%65%74%2Dkey-012", "4")
	// At the end, what was held back goes on as it is.
	go func() { pw.Write([]byte("s%65cret-key-012")); pw.Close() }()
	if got, err := io.ReadAll(b); err != nil || string(got) != "s%65cret-key-012" {
		t.Fatalf("at the end: read %q, %v", got, err)
	}
}

// BenchmarkRedactStream reads, as the proxy copies it (32 KiB reads), a
// stream of Gemini-like events (JSON with escapes, and letters the key
// starts with) arriving one event per read, and a small whole answer, bare
// and through a Reader (allocations included).
func BenchmarkRedactStream(b *testing.B) {
	const key = "AIzaSyD-0123456789abcdef0123456789abcde"
	event := `data: {"candidates":[{"content":{"parts":[{"text":"And so Alice\nasked: \"Are 100% of these Answers right?\" A+ work."}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":40},"modelVersion":"gemini-2.5-flash"}` + "\n\n"
	answer := `{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}]}`
	red := New(key, "apijongler")
	buf := make([]byte, 32<<10) // httputil.ReverseProxy's
	for _, body := range []struct {
		name  string
		data  []byte
		sizes []byte
	}{
		{"stream", []byte(strings.Repeat(event, 200)), []byte{byte(len(event))}},
		{"answer", []byte(answer), nil},
	} {
		for _, c := range []struct {
			name string
			wrap func(io.ReadCloser) io.ReadCloser
		}{
			{"bare", func(rc io.ReadCloser) io.ReadCloser { return rc }},
			{"redacted", func(rc io.ReadCloser) io.ReadCloser { return NewReader(rc, red) }},
		} {
			b.Run(body.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(body.data)))
				b.ReportAllocs()
				for b.Loop() {
					rc := c.wrap(&chunkReader{data: body.data, sizes: body.sizes})
					n := 0
					for {
						k, err := rc.Read(buf)
						n += k
						if err != nil {
							break
						}
					}
					if n != len(body.data) {
						b.Fatalf("read %d of %d bytes", n, len(body.data))
					}
				}
			})
		}
	}
}

// TestCutDropsAPartialKey: the start of a body cut short loses a tail that
// may begin a form of the key, and nothing else.
func TestCutDropsAPartialKey(t *testing.T) {
	const key = "AIzaSyD-cut-0123456789"
	r := New(key, "placeholder")
	for in, want := range map[string]string{
		"error: " + key[:10]:                "error: ",
		"error: " + key + " and " + key[:1]: "error: " + key + " and ",
		"error: %41Iza":                     "error: ",
		"error: %2541%2549":                 "error: ",
		`error: \u0041Iz`:                   "error: ",
		"error: " + key[:10] + "x and more": "error: " + key[:10] + "x and more",
		"error: nothing of it":              "error: nothing of it",
		"error: %zz":                        "error: %zz",
		"":                                  "",
	} {
		if got := string(r.Cut([]byte(in))); got != want {
			t.Errorf("Cut(%q) = %q, want %q", in, got, want)
		}
	}
}
