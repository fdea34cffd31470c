package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/proxy"
)

// DialTimeout bounds reaching a proxy and, for SOCKS5, its handshake and
// its connection to the upstream: a proxy that does not answer by then
// has failed.
const DialTimeout = 10 * time.Second

// DialFunc is http.Transport's DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial is what dials when no base dial is given.
func defaultDial() DialFunc {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext
}

// Setup makes ht, a clone of the base transport, send through u: nil for
// no proxy at all (not even the environment's), a SOCKS5 proxy dialed
// through forward (nil: a plain dialer), or an HTTP proxy that ht asks
// for a tunnel with CONNECT. Failures of the way out come back as an
// *[Error].
func Setup(ht *http.Transport, u *url.URL, forward DialFunc) error {
	if forward == nil {
		forward = defaultDial()
	}
	ht.Proxy = nil // the way out given is the only one
	if u == nil {
		return nil
	}
	// A base's own TLS dial would go around the proxy.
	ht.DialTLSContext, ht.DialTLS = nil, nil //nolint:staticcheck // DialTLS too, deprecated or not
	name := Addr(u)
	switch u.Scheme {
	case "socks5", "socks5h":
		var auth *proxy.Auth
		if u.User != nil {
			pw, _ := u.User.Password()
			auth = &proxy.Auth{User: u.User.Username(), Password: pw}
		}
		d, err := proxy.SOCKS5("tcp", u.Host, auth, dialFunc(forward))
		if err != nil {
			return &Error{Proxy: name, Err: err}
		}
		cd := d.(proxy.ContextDialer) // x/net's SOCKS5 dialer has DialContext
		local := u.Scheme == "socks5"
		ht.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if local {
				var err error
				if addr, err = resolve(ctx, addr); err != nil {
					return nil, err // the name, not the proxy
				}
			}
			return guard(ctx, name, func(ctx context.Context) (net.Conn, error) { return cd.DialContext(ctx, network, addr) })
		}
	case "http":
		ht.Proxy = http.ProxyURL(u) // its user and password become Proxy-Authorization
		ht.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return guard(ctx, name, func(ctx context.Context) (net.Conn, error) { return forward(ctx, network, addr) })
		}
		ht.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return &Error{Proxy: name, Err: connectRefused(resp.StatusCode)}
			}
			return nil
		}
	default:
		return fmt.Errorf("egress %s: unknown scheme", name)
	}
	return nil
}

// guard dials within DialTimeout and makes a failure an *Error of proxy
// name, unless the caller gave up first (its own cancellation or deadline
// is not the proxy's fault).
func guard(ctx context.Context, name string, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := dial(dctx)
	if err == nil {
		return c, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	return nil, &Error{Proxy: name, Err: err}
}

// resolve returns addr with its host name resolved here, for socks5://.
func resolve(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return addr, err
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ips[0].IP.String(), port), nil
}

// dialFunc is a DialFunc as x/net/proxy's Dialer and ContextDialer.
type dialFunc DialFunc

func (f dialFunc) Dial(network, addr string) (net.Conn, error) {
	return f(context.Background(), network, addr)
}

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// connectRefused is an HTTP proxy's answer to CONNECT other than 200.
type connectRefused int

func (c connectRefused) Error() string { return fmt.Sprintf("CONNECT answered %d", int(c)) }
