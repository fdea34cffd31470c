package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errUpgradeRefused is an upstream switching protocols (101) other than
// as the request asked.
var errUpgradeRefused = errors.New("proxy: the upstream switched protocols unasked")

// checkUpgrade is the handler's ModifyResponse: it refuses a 101 the
// request did not ask for (no upgrade asked, or another protocol), which
// httputil.ReverseProxy would answer with a 502 while leaving the
// upstream's connection open, and with it the key's lease, until the
// garbage collector came. Refused here, ReverseProxy closes the body,
// which ends the lease at once.
func checkUpgrade(resp *http.Response) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	var asked string
	if resp.Request != nil {
		asked = upgradeType(resp.Request.Header)
	}
	given := upgradeType(resp.Header)
	switch {
	case asked == "":
		return fmt.Errorf("%w: %q, when none was asked", errUpgradeRefused, given)
	case !strings.EqualFold(asked, given) || !printable(given):
		return fmt.Errorf("%w: %q, when %q was asked", errUpgradeRefused, given, asked)
	}
	if _, ok := resp.Body.(io.ReadWriteCloser); !ok {
		return fmt.Errorf("%w: its connection cannot be written to", errUpgradeRefused)
	}
	return nil
}

// upgradeType is the protocol h asks to switch to, as ReverseProxy reads
// it: Upgrade's value when Connection names it.
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// printable reports whether s is printable ASCII.
func printable(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
