package jongler

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"golang.org/x/net/proxy"
)

// defaultTorAddr is where Tor's SOCKS5 proxy listens by default.
const defaultTorAddr = "127.0.0.1:9050"

// buildBase returns the round tripper requests go through: the one given,
// or http.DefaultTransport, dialing through a SOCKS5 proxy if asked.
func buildBase(o *options) (http.RoundTripper, error) {
	addr, tor := torAddress(o)
	base := o.base
	if !tor {
		if base == nil {
			base = http.DefaultTransport
		}
		return base, nil
	}
	if base == nil {
		base = http.DefaultTransport
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, errors.New("jongler: WithTor needs the base transport to be an *http.Transport")
	}
	d, err := socksDialer(addr)
	if err != nil {
		return nil, err
	}
	ht = ht.Clone()
	ht.Proxy = nil // the SOCKS5 proxy is the only way out
	ht.DialContext = d.DialContext
	return ht, nil
}

// torAddress returns the address of Tor's SOCKS5 proxy if every request
// goes through Tor: [WithTor]'s, else $APIJONGLER_TOR's.
func torAddress(o *options) (string, bool) {
	if o.torSet {
		return o.tor, true
	}
	if env := os.Getenv(TorEnv); env != "" {
		return env, true
	}
	return "", false
}

// socksDialer dials through the SOCKS5 proxy at addr. Host names are sent
// to the proxy unresolved, so that the proxy (Tor) resolves them.
func socksDialer(addr string) (proxy.ContextDialer, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("jongler: Tor/SOCKS5 address %q: %v", addr, err)
	}
	d, err := proxy.SOCKS5("tcp", addr, nil, &net.Dialer{})
	if err != nil {
		return nil, fmt.Errorf("jongler: Tor/SOCKS5 proxy: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, errors.New("jongler: SOCKS5 dialer cannot honour contexts")
	}
	return cd, nil
}
