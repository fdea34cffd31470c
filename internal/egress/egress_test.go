package egress

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		addrs []string // as Addr shows them; nil: an error
		err   string
	}{
		{spec: "direct", addrs: []string{"direct"}},
		{spec: " DIRECT ", addrs: []string{"direct"}},
		{spec: "socks5://127.0.0.1:1080", addrs: []string{"socks5://127.0.0.1:1080"}},
		{spec: "SOCKS5H://u:secret-pw@proxy.example:1080", addrs: []string{"socks5h://proxy.example:1080"}},
		{spec: "http://u:secret-pw@[::1]:3128/", addrs: []string{"http://[::1]:3128"}},
		{spec: "socks5://a:1, http://b:2 ,direct", addrs: []string{"socks5://a:1", "http://b:2", "direct"}},
		{spec: "", err: "no way out"},
		{spec: "https://u:secret-pw@h:443", err: `scheme "https"`},
		{spec: "u:secret-pw@h:1", err: "scheme"},
		{spec: "h:1080", err: "scheme"},
		{spec: "socks5://u:secret-pw@h", err: "without host:port"},
		{spec: "socks5://u:secret-pw@:1080", err: "without host:port"},
		{spec: "http://u:secret-pw@h:1/x?y", err: "path or query"},
		{spec: "http://u:secret-pw@[::1:80", err: "not a URL"},
		{spec: "socks5://u:secret%zz@h:1", err: "not a URL"},
	} {
		l, err := Parse(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "secret") {
				t.Errorf("Parse(%q) = %v; want an error saying %q, no password", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		var got []string
		for _, u := range l {
			got = append(got, Addr(u))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.addrs) {
			t.Errorf("Parse(%q) = %v; want %v", tc.spec, got, tc.addrs)
		}
	}
}

// TestPickMovesFewKeys: adding an n-th proxy to a list moves about 1/n of
// 1,000 keys, every one of them to the new proxy, and spreads keys evenly.
func TestPickMovesFewKeys(t *testing.T) {
	const keys = 1000
	var specs []string
	prev := map[string]string{}
	for n := 1; n <= 10; n++ {
		specs = append(specs, fmt.Sprintf("socks5://10.0.0.%d:1080", n))
		l, err := Parse(strings.Join(specs, ","))
		if err != nil {
			t.Fatal(err)
		}
		added := Addr(l[n-1])
		count := map[string]int{}
		moved := 0
		for i := range keys {
			name := fmt.Sprintf("key-%d", i)
			got := Addr(l.Pick(name))
			count[got]++
			if was, ok := prev[name]; ok && was != got {
				moved++
				if got != added {
					t.Errorf("n=%d: key %s moved from %s to %s, not to the proxy added", n, name, was, got)
				}
			}
			prev[name] = got
		}
		if n == 1 {
			continue
		}
		// 1/n of the keys, give or take a few standard deviations.
		if limit := keys/n + 3*keys/(n*n) + 20; moved > limit {
			t.Errorf("adding proxy %d moved %d of %d keys; want about %d, at most %d", n, moved, keys, keys/n, limit)
		}
		t.Logf("n=%d: moved %d of %d keys (1/n = %d)", n, moved, keys, keys/n)
		for addr, c := range count {
			if mean := keys / n; c < mean/2 || c > mean*3/2 {
				t.Errorf("n=%d: %s has %d keys; want about %d", n, addr, c, mean)
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	got := Secrets("socks5://alice:pw-1234567@h:1, http://h:2, http://bob@h:3")
	want := []string{"socks5://alice:pw-1234567@h:1", "alice:pw-1234567", "pw-1234567", "http://bob@h:3", "bob"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Secrets = %q; want %q", got, want)
	}
}

func TestCooldownGrows(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 2 * time.Minute, 2 * time.Minute}
	for i, w := range want {
		if got := Cooldown(i + 1); got != w {
			t.Errorf("Cooldown(%d) = %v; want %v", i+1, got, w)
		}
	}
}

func TestTorURL(t *testing.T) {
	a, b := TorURL("127.0.0.1:9050", "key1"), TorURL("127.0.0.1:9050", "key2")
	if a.User.String() == b.User.String() {
		t.Error("two keys share a Tor user name")
	}
	if TorURL("127.0.0.1:9050", "key1").String() != a.String() {
		t.Error("a key's Tor user name changes")
	}
	if Addr(a) != "socks5h://127.0.0.1:9050" {
		t.Errorf("Addr = %q", Addr(a))
	}
}

func TestTableLookup(t *testing.T) {
	tab := Table{"Key1": "socks5://a:1", "proj": "socks5://b:2", "*": "direct"}
	for _, tc := range []struct{ name, project, want string }{
		{"key1", "proj", "socks5://a:1"},
		{"key2", "PROJ", "socks5://b:2"},
		{"key3", "key3", "direct"},
	} {
		if got := tab.Lookup(tc.name, tc.project); got != tc.want {
			t.Errorf("Lookup(%q, %q) = %q; want %q", tc.name, tc.project, got, tc.want)
		}
	}
	if got := (Table{"k": "direct"}).Lookup("other", "other"); got != "" {
		t.Errorf("no line: %q; want none", got)
	}
}
