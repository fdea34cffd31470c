package jongler

import (
	"net/url"
	"strings"
)

// warnPublicHost warns, once per transport, that a request went to the
// connector's public host while [WithBaseURL] points the transport
// elsewhere: it leaves with no key (its placeholder stripped) and comes
// back refused, with nothing to say why unless this does. The warning
// names the origin the transport serves, where the client should send.
func (t *Transport) warnPublicHost(u *url.URL) {
	if !strings.EqualFold(u.Hostname(), t.connector.Host) || strings.EqualFold(t.target.Hostname(), t.connector.Host) {
		return
	}
	t.publicOnce.Do(func() {
		t.logger.Warn("jongler: a request for the connector's public host is sent without a key: this transport serves another origin (WithBaseURL); send requests there",
			"connector", t.connector.Name, "request_origin", u.Scheme+"://"+u.Host, "served_origin", t.target.Scheme+"://"+t.target.Host)
	})
}
