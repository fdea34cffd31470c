package keyfile

import (
	"slices"
	"strings"
	"testing"
)

const egressSample = "[gemini-like]\n" +
	"k1 = AIza-first-secret-0001\n" +
	"k2 = AIza-second-secret-0002\n" +
	"k3 = AIza-third-secret-0003\n" +
	"[gemini-like:projects]\n" +
	"shared = k2, k3\n" +
	"[gemini-like:egress]\n" +
	"K1 = socks5h://alice:proxy-pass-8812@10.0.0.1:1080\n" +
	"shared = http://10.0.0.2:3128\n" +
	"* = socks5://10.0.0.3:1080, direct\n"

func TestEgressSection(t *testing.T) {
	f, err := Parse("keys.ini", []byte(egressSample))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Connectors(); !slices.Equal(got, []string{"gemini-like"}) {
		t.Errorf("Connectors() = %q; the egress section is no connector", got)
	}
	c, err := f.Connector("gemini-like")
	if err != nil {
		t.Fatal(err)
	}
	tab := c.EgressTable()
	for _, tc := range []struct{ name, project, want string }{
		{"k1", "k1", "socks5h://alice:proxy-pass-8812@10.0.0.1:1080"},
		{"k2", "shared", "http://10.0.0.2:3128"},
		{"k4", "k4", "socks5://10.0.0.3:1080, direct"},
	} {
		if got := tab.Lookup(tc.name, tc.project); got != tc.want {
			t.Errorf("egress of %s: %q; want %q", tc.name, got, tc.want)
		}
	}
	for _, s := range []string{"proxy-pass-8812", "alice:proxy-pass-8812"} {
		if !slices.Contains(f.Secrets(), s) {
			t.Errorf("Secrets() lacks %q: proxy passwords are redacted from output", s)
		}
	}
	if got := f.Redact("dial socks5h://alice:proxy-pass-8812@10.0.0.1:1080 failed"); strings.Contains(got, "proxy-pass") {
		t.Errorf("Redact left the password: %q", got)
	}
}

func TestEgressSectionErrors(t *testing.T) {
	head := "[gemini-like]\nk1 = AIza-first-secret-0001\n[gemini-like:egress]\n"
	for _, tc := range []struct{ body, want string }{
		{"stranger = direct\n", `keys.ini:4: [gemini-like:egress] "stranger" is no key or project`},
		{"k1 = ftp://u:hidden-pass-77@h:21\n", `keys.ini:4: [gemini-like:egress] k1: scheme "ftp"`},
		{"k1 = socks5://u:hidden-pass-77@h\n", "k1: socks5:// proxy without host:port"},
		{"k1 = http://u:hidden-pass-77@[::1\n", "k1: not a URL"},
		{"* = direct\n* = socks5://h:1\n", `"*" is given 2 times`},
		{"k1 =\n", "k1: no way out"},
	} {
		_, err := mustParse(t, head+tc.body).Connector("gemini-like")
		if err == nil {
			t.Errorf("%q: no error", tc.body)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "hidden-pass") || strings.Contains(msg, "\n") {
			t.Errorf("%q: error %q; want one line saying %q, no password", tc.body, msg, tc.want)
		}
	}
}

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("keys.ini", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
