package proxy

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// WithTrustedProxies names the proxies in front of the handler (a load
// balancer, nginx) by their addresses: for a request that comes from one
// of prefixes, the access log names the client the X-Forwarded-For header
// says, read from its end as nginx's real_ip_recursive does (the last
// address not in prefixes). From any other address, X-Forwarded-For is
// ignored, as anyone can send it. Nothing of it goes upstream either way.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(c *config) {
		for _, p := range prefixes {
			if p.IsValid() {
				c.trusted = append(c.trusted, p.Masked())
			}
		}
	}
}

// trustedProxies are the addresses whose X-Forwarded-For is believed.
type trustedProxies []netip.Prefix

// trusts reports whether a is one of the trusted proxies.
func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	return slices.ContainsFunc(t, func(p netip.Prefix) bool { return p.Contains(a) })
}

// clientAddr is the address of the client of r as the access log names
// it: the IP address its connection came from, or, when that is a trusted
// proxy's, the last address of X-Forwarded-For that is not.
func (h *Handler) clientAddr(r *http.Request) string {
	remote := remoteIP(r.RemoteAddr)
	if len(h.trusted) == 0 {
		return remote
	}
	a, err := netip.ParseAddr(remote)
	if err != nil || !h.trusted.trusts(a) {
		return remote
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		next, err := netip.ParseAddr(hop)
		if err != nil {
			break // not an address: believe no further
		}
		a = next.Unmap()
		if !h.trusted.trusts(a) {
			break
		}
	}
	return a.String()
}
