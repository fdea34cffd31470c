package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/errshape"
	"github.com/api-jongler/jongler/proxy"
)

// The clients of serve: a tokens file names each client, its token (or
// the token's SHA-256) and its limits, one a line:
//
//	alice  3f0c...e1           per_minute=60 per_day=5000 allow=gemini,openai
//	ci     sha256:9a1f...04
//
// It is read at start and on every SIGHUP: a line taken out stops its
// client at once (requests in flight finish).

// clientFlags are serve's flags for its clients.
type clientFlags struct {
	tokensFile string
	trusted    string // comma-separated addresses and prefixes
}

// clientSettings returns the [serve] settings of c, for the INI file.
func clientSettings(c *clientFlags) []limitSetting {
	return []limitSetting{
		{flag: "tokens-file", name: "tokens_file", s: &c.tokensFile},
		{flag: "trusted-proxies", name: "trusted_proxies", s: &c.trusted},
	}
}

// addClientFlags adds the flags of c to cmd.
func addClientFlags(cmd *cobra.Command, c *clientFlags) {
	fl := cmd.Flags()
	fl.StringVar(&c.tokensFile, "tokens-file", "", "let in the clients of `FILE`, one a line: NAME TOKEN or NAME sha256:HEX, then per_minute=N per_day=N allow=CONNECTOR,... (read again on SIGHUP; also tokens_file in the INI file's [serve])")
	fl.StringVar(&c.trusted, "trusted-proxies", "", "believe X-Forwarded-For from these `ADDRS` (addresses or prefixes, comma-separated), for the client address the access log names (also trusted_proxies in the INI file's [serve])")
}

// trustedProxies parses --trusted-proxies.
func (c *clientFlags) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range strings.Split(c.trusted, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, usageErrorf("--trusted-proxies (trusted_proxies) entry %d %q: want an address or a prefix such as 10.0.0.0/8", i+1, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

// clientNameRE is what a client's name may be: it goes into logs and
// metric labels as it is.
var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// hashPrefix starts the stored form of a token.
const hashPrefix = "sha256:"

// parseClients reads a tokens file: every line NAME TOKEN or NAME
// sha256:HEX, then optional per_minute=N, per_day=N and allow=NAME,...;
// '#' starts a comment. A token in clear must be strong when public.
// Messages name the file and line, never a token nor a name.
func parseClients(path string, data []byte, public bool) ([]proxy.Client, error) {
	var out []proxy.Client
	names := map[string]int{}
	digests := map[[sha256.Size]byte]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		where := fmt.Sprintf("--tokens-file %s:%d", path, n)
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, configError(fmt.Errorf("%s: want NAME TOKEN or NAME sha256:HEX, then per_minute=N per_day=N allow=CONNECTOR,...", where))
		}
		c := proxy.Client{Name: fields[0]}
		if !clientNameRE.MatchString(c.Name) {
			return nil, configError(fmt.Errorf("%s: the name (first field) is not 1 to 64 letters, digits or ._@- (not shown: it may be a token)", where))
		}
		if first, dup := names[c.Name]; dup {
			return nil, configError(fmt.Errorf("%s: client %s is on line %d too", where, c.Name, first))
		}
		names[c.Name] = n
		tok := fields[1]
		if h, ok := strings.CutPrefix(tok, hashPrefix); ok {
			d, err := hex.DecodeString(h)
			if err != nil || len(d) != sha256.Size {
				return nil, configError(fmt.Errorf("%s: client %s: after sha256: want 64 hex digits (apijongler token new %s)", where, c.Name, c.Name))
			}
			c.TokenSHA256 = [sha256.Size]byte(d)
		} else {
			if weak := weakness(tok); weak != "" && public {
				return nil, configError(fmt.Errorf("%s: client %s: refusing a token %s to listen beyond loopback: a token must be at least %d bytes; make one with: apijongler token new %s", where, c.Name, weak, minTokenBytes, c.Name))
			}
			if strings.Contains(tok, "=") && len(fields) == 2 {
				return nil, configError(fmt.Errorf("%s: client %s: no token before the limits", where, c.Name))
			}
			c.Token = tok
			c.TokenSHA256 = sha256.Sum256([]byte(tok))
		}
		if first, dup := digests[c.TokenSHA256]; dup {
			return nil, configError(fmt.Errorf("%s: client %s has the token of line %d", where, c.Name, first))
		}
		digests[c.TokenSHA256] = n
		if err := parseClientLimits(&c, fields[2:]); err != nil {
			return nil, configError(fmt.Errorf("%s: client %s: %w", where, c.Name, err))
		}
		out = append(out, c)
	}
	return out, nil
}

// parseClientLimits reads per_minute=N, per_day=N and allow=A,B into c.
func parseClientLimits(c *proxy.Client, fields []string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || seen[k] {
			return fmt.Errorf("field %q: want per_minute=N, per_day=N or allow=CONNECTOR,..., each once", shortField(f))
		}
		seen[k] = true
		switch k {
		case "per_minute", "per_day":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: want a whole number, 0 or more (0: no limit)", k)
			}
			if k == "per_minute" {
				c.PerMinute = n
			} else {
				c.PerDay = n
			}
		case "allow":
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.Allow = append(c.Allow, a)
				}
			}
			if len(c.Allow) == 0 {
				return fmt.Errorf("allow=: name at least one connector or route")
			}
		default:
			return fmt.Errorf("unknown field %q: want per_minute=N, per_day=N or allow=CONNECTOR,...", shortField(k))
		}
	}
	return nil
}

// shortField is f for a message, or a note when it is long enough to be a
// token put in the wrong place.
func shortField(f string) string {
	if len(f) >= minTokenBytes {
		return "(a long field, not shown: it may be a token)"
	}
	return f
}

// readClients returns the clients of the tokens file, if one is given,
// adding their tokens to what the output redacts.
func (a *app) readClients(c *clientFlags, public bool) ([]proxy.Client, error) {
	if c.tokensFile == "" {
		return nil, nil
	}
	data, err := a.readSecretFile("--tokens-file", c.tokensFile)
	if err != nil {
		return nil, err
	}
	clients, err := parseClients(c.tokensFile, data, public)
	if err != nil {
		return nil, err
	}
	var secrets []jongler.Key
	for _, cl := range clients {
		if cl.Token == "" {
			continue
		}
		secrets = append(secrets, jongler.Key{Name: cl.Name, Value: cl.Token})
		if weak := weakness(cl.Token); weak != "" {
			a.logger.Warn(fmt.Sprintf("--tokens-file %s: client %s: a token %s is taken on loopback only; make a strong one with: apijongler token new %s", c.tokensFile, cl.Name, weak, cl.Name))
		}
	}
	a.stdout.addKeys(secrets)
	a.stderr.addKeys(secrets)
	return clients, nil
}

// clientGuard lets through requests that carry a client's token, as the
// current handler knows them (a SIGHUP may have changed them); others get
// 401 in JSON, as the proxy's own answers.
func clientGuard(cur *atomic.Pointer[served]) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := cur.Load().h.ClientName(r); !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="apijongler"`)
				errshape.Write(w, errshape.Google, http.StatusUnauthorized, "apijongler: missing or wrong token: send one as a Bearer token", 0)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// serveClientsStatus answers GET /status/clients: each client by name,
// its limits and its counts (never a token).
func serveClientsStatus(cur *atomic.Pointer[served]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		clients := cur.Load().h.Clients()
		if clients == nil {
			clients = []proxy.ClientStatus{}
		}
		enc.Encode(clients)
	})
}

// clientName returns the name of the client that sent r, as the current
// configuration of serve knows it ("-" when there are no tokens), and
// whether r carries a client's token: for pages mounted beside the proxy
// that log or count by client.
func clientName(cur *atomic.Pointer[served], r *http.Request) (string, bool) {
	return cur.Load().h.ClientName(r)
}
