// Package egress is how a key's requests leave: through a SOCKS5 or HTTP
// CONNECT proxy of its own, or directly. It reads the proxy URLs of the
// "[CONNECTOR:egress]" section and of jongler.WithEgress, picks one of a
// list by rendezvous hashing of the key's name, dials through the proxy,
// and tells an error of the way out (the proxy refused, failed or did not
// answer) from any other.
//
// Nothing here shows a proxy's user name or password: [Addr] names a proxy
// by scheme, host and port, and every error of this package does too.
package egress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Direct is the value that sends a key's requests out with no proxy.
const Direct = "direct"

// List is the ways out a value gives, in its order: a nil entry is
// [Direct].
type List []*url.URL

// Parse reads spec: "direct", one proxy URL, or several separated by
// commas. A URL is socks5://[user:password@]host:port (names resolved
// here), socks5h://… (names resolved by the proxy) or
// http://[user:password@]host:port (CONNECT). Its errors never show a
// password: they name what is wrong and, at most, the scheme and host.
func Parse(spec string) (List, error) {
	var out List
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := parseOne(part)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New(`no way out given: want "direct" or a proxy URL such as socks5://host:port`)
	}
	return out, nil
}

// parseOne reads one way out; nil for direct.
func parseOne(s string) (*url.URL, error) {
	if strings.EqualFold(s, Direct) {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's error quotes the whole text, password and all.
		return nil, errors.New("not a URL (not shown: it may hold a password); want socks5://host:port, socks5h://host:port, http://host:port or direct")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "socks5", "socks5h", "http":
	case "":
		return nil, errors.New("a proxy URL without a scheme; want socks5://, socks5h://, http:// or direct")
	default:
		return nil, fmt.Errorf("scheme %q: want socks5, socks5h, http (CONNECT) or direct", shortText(u.Scheme))
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("%s:// proxy without host:port", u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s proxy URL with a path or query; want only host:port", Addr(u))
	}
	u.Path = ""
	return u, nil
}

// shortText quotes s if short, as a scheme mistyped by a person is.
func shortText(s string) string {
	if len(s) < 16 {
		return s
	}
	return "(a long text, not shown)"
}

// Addr names the way out u for logs, states and errors: scheme, host and
// port, never the user name or password; "direct" for nil.
func Addr(u *url.URL) string {
	if u == nil {
		return Direct
	}
	return u.Scheme + "://" + u.Host
}

// Secrets returns the texts of spec that must not be shown: each URL's
// user information and password, and each URL as written.
func Secrets(spec string) []string {
	var out []string
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || u.User == nil {
			continue
		}
		out = append(out, part, u.User.String())
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// Pick returns the way out of l for the key called name: its only entry,
// or, of several, the one of highest rendezvous weight for name, so that
// adding an n-th entry moves about 1/n of the keys, all to it, and
// removing one moves only the keys it had.
func (l List) Pick(name string) *url.URL {
	if len(l) == 1 {
		return l[0]
	}
	var best *url.URL
	var top uint64
	for i, u := range l {
		if w := weight(Addr(u), name); i == 0 || w > top {
			best, top = u, w
		}
	}
	return best
}

// weight is the rendezvous weight of way out addr for key name: FNV-1a
// of both, mixed by SplitMix64's finaliser so that similar names spread.
func weight(addr, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(addr))
	h.Write([]byte{0})
	h.Write([]byte(name))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Table is what the "[CONNECTOR:egress]" lines say, by name: a key's, a
// project's, or "*".
type Table map[string]string

// Lookup returns the value for the key called name of project: the line of
// the key's name, else of its project's, else of "*"; "" when none is.
// Names are compared whatever their case, as the INI file's are.
func (t Table) Lookup(name, project string) string {
	for _, n := range [...]string{name, project, "*"} {
		for k, v := range t {
			if strings.EqualFold(k, n) {
				return v
			}
		}
	}
	return ""
}

// Error is a request that could not leave through its way out: the proxy
// refused the connection or the request, failed, or did not answer. The
// key is not at fault.
type Error struct {
	Proxy string // as Addr names it
	Err   error
}

func (e *Error) Error() string { return "jongler: egress " + e.Proxy + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Cause says in a few words, for a key's state, why e's proxy failed.
func (e *Error) Cause() string {
	var ne net.Error
	var cr connectRefused
	switch {
	case errors.As(e.Err, &cr):
		return cr.Error()
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(e.Err, context.DeadlineExceeded), errors.As(e.Err, &ne) && ne.Timeout():
		return "no answer"
	case errors.Is(e.Err, syscall.ECONNRESET):
		return "connection reset"
	}
	return "failed"
}

// Cooldown is how long a key rests after the n-th failure in a row of its
// way out: 5s, doubled each time, at most two minutes.
func Cooldown(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 2*time.Minute; i++ {
		d *= 2
	}
	return min(d, 2*time.Minute)
}

// TorURL is the way out through Tor's SOCKS5 proxy at addr for the key
// called name, host names resolved by Tor, with a SOCKS user name derived
// from the key's name (never its value): Tor's IsolateSOCKSAuth, on by
// default, then gives each key a circuit, and so an exit, of its own.
func TorURL(addr, name string) *url.URL {
	sum := sha256.Sum256([]byte("apijongler tor circuit\x00" + name))
	return &url.URL{Scheme: "socks5h", Host: addr, User: url.UserPassword("key-"+hex.EncodeToString(sum[:8]), "x")}
}
