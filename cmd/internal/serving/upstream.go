package serving

import "net/http"

// unboundedIdle is the idle upstream connections kept per host when the
// connections serve holds are not bounded (--max-conns 0).
const unboundedIdle = 4096

// UpstreamTransport returns the transport serve sends upstream through
// (jongler.WithBaseTransport): http.DefaultTransport's settings, keeping
// as many idle connections per host as serve may have requests in flight,
// one for each connection it holds (l.Conns). DefaultTransport keeps 2:
// past 2 requests at once, each answer would close its connection and the
// next request open another.
func UpstreamTransport(l Limits) *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	n := l.Conns
	if n <= 0 {
		n = unboundedIdle
	}
	t.MaxIdleConnsPerHost = n
	if t.MaxIdleConns != 0 {
		t.MaxIdleConns = max(t.MaxIdleConns, n)
	}
	return t
}
