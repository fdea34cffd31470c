package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/cmd/internal/serving"
	"github.com/api-jongler/jongler/proxy"
	"github.com/api-jongler/jongler/route"
)

// Environment variables of `serve`.
const (
	listenEnv     = "APIJONGLER_LISTEN"
	tokensEnv     = "APIJONGLER_TOKENS"
	keysEnvPrefix = "APIJONGLER_KEYS_"
	defaultListen = "127.0.0.1:8787"
)

// serveFlags are the flags of `serve`.
type serveFlags struct {
	listen          string
	tokens          []string
	tokenFiles      []string
	root            string
	logFormat       string
	shutdownTimeout time.Duration
	maxBody         int64
	tor             string
	poolSummary     time.Duration // serve_pool.go
	baseURLs        []string      // base_url.go
	limits          serving.Limits
	clients         clientFlags // clients.go
}

func (a *app) serveCmd() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve [CONNECTOR...]",
		Short: "Serve the connectors over HTTP, as a key-rotating proxy any SDK or tool can use",
		Long: `serve runs a reverse proxy that sends every request with a key from the pool,
rotating away from rate-limited keys, so that any language, SDK or tool that
lets you change a base URL and an API key gets key rotation.

Each CONNECTOR (default: every connector with keys; one that needs no key,
such as httpbin.org, only when named) is served under /NAME/ and its aliases (/gemini/, /hf/); when one connector with
keys is served, or one is named with --root, it is also served at /. Clients put a
proxy token where they would put their API key; in no form does it go
upstream or into the log. Give tokens in a file (--token-file, one a line,
mode 0600) or in $` + tokensEnv + ` (comma-separated); --token works too, but
every local user can read the command line. Without a token serve listens
on loopback addresses only; beyond loopback every token must be at least 16
bytes without whitespace (openssl rand -hex 16).

Name the clients of a team in a tokens file (--tokens-file, or tokens_file in
the INI file's [serve]), one a line: NAME TOKEN, or NAME sha256:HEX (the
token's SHA-256: the file need not hold it), then optional per_minute=N,
per_day=N and allow=CONNECTOR,... ('apijongler token new NAME' prints a token
and its line). The access log, /metrics and /status/clients name the client;
one over its own limit gets 429 saying so. The file is read again on SIGHUP:
a line taken out stops its client at once, its requests in flight finish.
The access log names the client's address; behind a proxy, give its address
with --trusted-proxies to log the X-Forwarded-For it sets instead.

Keys come from the INI file (--config, $` + jongler.ConfigEnv + `) and from
environment variables ` + keysEnvPrefix + `<CONNECTOR>=name1=value1,name2=value2,
CONNECTOR being the connector's name or alias in upper case with every
character other than a letter or digit as '_' (` + keysEnvPrefix + `GEMINI,
` + keysEnvPrefix + `GENERATIVELANGUAGE_GOOGLEAPIS_COM). Key states are shared
with every other apijongler process and library user of the state directory,
or, with a Redis store (--store-file, $APIJONGLER_STORE), across machines.

Every phase has a bound: a request's header 10s, each read of its body 60s,
the whole body --body-timeout, the bodies held in memory at once
--max-buffered-bytes,
the upstream's answer --upstream-header-timeout, each pause of a stream
--stream-idle-timeout, each write to the client --write-timeout, the next
request on a connection 2m; and --max-conns-per-client connections per
client address. The INI file's [serve] section may set them (read at start):
max_conns_per_client = 64, upstream_header_timeout = 90s, ...

The first line on standard output is "listening on http://HOST:PORT". One
access-log line per request goes to standard error. GET /healthz, /readyz
(200 only when every connector has a key free to take a request), /status (as
'apijongler status --json'), /status/clients and /metrics (Prometheus text
format); the last three need a token when there is one, and /readyz says which connector is
not ready only to a token holder.
SIGINT or SIGTERM: stop accepting, let requests in flight finish for up to
--shutdown-timeout, cut the rest (logged "cut at shutdown"), exit 0. SIGHUP:
read the INI file again; requests in flight finish with the keys they
started with; a reload that blocks (a FIFO) never keeps SIGINT or SIGTERM
from stopping serve.` + routesHelp + adminHelp,
		Example: `  apijongler serve gemini
  (umask 077 && openssl rand -hex 16 > token)
  apijongler serve --listen 0.0.0.0:8787 --token-file token
  curl -s http://127.0.0.1:8787/gemini/v1beta/models/gemini-2.5-flash:generateContent \
    -H 'Content-Type: application/json' -d '{"contents":[{"parts":[{"text":"Hello"}]}]}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runServe(cmd, f, args)
		},
		// SIGINT and SIGTERM end a server normally: exit 0 once drained.
		Annotations: map[string]string{signalEndsCleanly: "yes"},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", defaultListen, "listen on `ADDR` (host:port; port 0 picks one) (also $"+listenEnv+")")
	fl.StringArrayVar(&f.tokenFiles, "token-file", nil, "let in clients that send one of the tokens of `FILE` (one a line; # starts a comment) as their API key; repeatable")
	fl.StringArrayVar(&f.tokens, "token", nil, "let in clients that send `TOKEN` as their API key; repeatable (also $"+tokensEnv+", comma-separated); prefer --token-file: every local user can read the command line")
	fl.StringVar(&f.root, "root", "", "serve `CONNECTOR` at / too")
	fl.StringVar(&f.logFormat, "log-format", "text", "access log format: text or json")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, let requests in flight finish for this long")
	fl.Int64Var(&f.maxBody, "max-body", proxy.DefaultMaxBodyBytes, "largest request body, in bytes")
	fl.StringVar(&f.tor, "tor", "", "send every key through Tor's SOCKS5 proxy (at ADDR if given), each on a circuit of its own")
	fl.Lookup("tor").NoOptDefVal = "127.0.0.1:9050"
	fl.DurationVar(&f.poolSummary, "pool-summary-interval", defaultPoolSummary, poolSummaryFlagUsage)
	addLimitFlags(cmd, &f.limits)
	addClientFlags(cmd, &f.clients)
	addBaseURLFlag(cmd, &f.baseURLs)
	return cmd
}

// served is what one configuration serves: the handler and its transports.
type served struct {
	h          *proxy.Handler
	transports []*jongler.Transport
	routes     *route.Handler // serve_routes.go; the proxy behind it
}

// close closes the transports; requests in flight on them finish.
func (s *served) close() {
	for _, t := range s.transports {
		t.Close()
	}
}

func (a *app) runServe(cmd *cobra.Command, f *serveFlags, args []string) error {
	ctx := cmd.Context()
	// Signals are caught from the start: a SIGHUP or SIGTERM that comes
	// while the keys are read must not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	listen := f.listen
	if v := os.Getenv(listenEnv); v != "" && !cmd.Flags().Changed("listen") {
		listen = v
	}
	access, err := serving.AccessLog(a.stderr, f.logFormat)
	if err != nil {
		return usageErrorf("%s", err)
	}
	if f.maxBody <= 0 {
		return usageErrorf("--max-body %d: want a positive number of bytes", f.maxBody)
	}
	if f.poolSummary < 0 {
		return usageErrorf("--pool-summary-interval %s: want a positive duration, or 0 for none", f.poolSummary)
	}
	limits, err := a.serveLimits(cmd, f.limits, clientSettings(&f.clients)...)
	if err != nil {
		return err
	}
	tokens, err := a.serveTokens(f, listen) // serve_secrets.go
	if err != nil {
		return err
	}
	trusted, err := f.clients.trustedProxies()
	if err != nil {
		return err
	}

	// One store for every transport, across reloads: --store's Redis, or
	// the file store of the state directory, shared with every process.
	store, where, closeStore, err := a.openServeStore() // serve_store.go
	if err != nil {
		return err
	}
	defer closeStore()
	if store == nil {
		dir, err := jongler.DefaultStateDir()
		if err != nil {
			return configError(err)
		}
		fs, err := jongler.NewFileStore(dir, a.logger)
		if err != nil {
			return configError(err)
		}
		defer fs.Close()
		store, where = fs, dir
	}
	traffic := newTraffic() // the dashboard's counts: dash_traffic.go
	meters, metrics, stopMetrics, err := serveMetrics(traffic.reader)
	if err != nil {
		return configError(err)
	}
	defer stopMetrics()
	sc := serving.Config{Store: store, Logger: a.logger, Access: access, Meters: meters, Tokens: tokens, MaxBody: f.maxBody,
		Limits: limits, Leases: jongler.NewLeaseGroup(), Upstream: serving.UpstreamTransport(limits),
		Usage: proxy.NewClientUsage(nil), TrustedProxies: trusted}
	build := func() (*served, error) {
		a.ini = nil // read the INI file afresh: SIGHUP reloads it
		sc := sc
		var err error
		if sc.Clients, err = a.readClients(&f.clients, !isLoopback(listen)); err != nil { // clients.go
			return nil, err
		}
		return a.buildServed(args, f, sc)
	}
	first, err := firstBuild(ctx, access, build)
	if first == nil {
		return err
	}
	var cur atomic.Pointer[served]
	cur.Store(first)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		first.close()
		return configError(fmt.Errorf("listen: %w", err))
	}
	fmt.Fprintf(a.stdout, "listening on http://%s\n", ln.Addr())
	a.stdout.Flush()
	access.Info("serving", "addr", ln.Addr().String(), "prefixes", strings.Join(first.h.Prefixes(), " "), "store", where, "tokens", len(tokens), "clients", len(first.h.Clients()))

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", serving.NoBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /readyz", serving.NoBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A probe without the token gets the status and ready or not;
		// which connector is not ready, and why, is for token holders.
		_, holder := clientName(&cur, r)
		serveReady(w, r, cur.Load(), holder)
	})))
	guard := func(h http.Handler) http.Handler { return serving.NoBody(clientGuard(&cur)(a.scrubbed(h))) }
	mux.Handle("GET /status/clients", guard(serveClientsStatus(&cur)))
	mux.Handle("GET /status", guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := statusRows(r.Context(), cur.Load().transports)
		if err != nil {
			http.Error(w, "apijongler: the key states cannot be read (state directory or store)", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
	})))
	mux.Handle("GET /metrics", guard(metrics))
	mountRoutes(mux, cur.Load)                       // serve_routes.go
	a.mountDashboard(mux, access, cur.Load, traffic) // admin.go
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur.Load().h.ServeHTTP(w, r)
	}))
	srv := serving.NewServer(mux, limits, a.logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	reloads := &reloader{build: build, cur: &cur, log: access, warnAfter: reloadWarnAfter}
	stopPool := watchPool(ctx, access, f.poolSummary, func() []*jongler.Transport { return cur.Load().transports })
	defer stopPool()

	for stop := false; !stop; {
		select {
		case err := <-served:
			reloads.stop()
			stopPool()
			cur.Load().close()
			return &exitError{code: exitNoAnswer, err: fmt.Errorf("serve: %w", err)}
		case s := <-sig:
			// SIGINT and SIGTERM also cancel ctx (app.go's trap); the
			// signal itself is what counts here, so that the same one is
			// not taken for a second one below.
			if s != syscall.SIGHUP {
				stop = true
				continue
			}
			reloads.start() // off this goroutine: see serve_reload.go
		}
	}
	reloads.stop()
	stopPool()

	access.Info("shutting down", "grace", f.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	go func() {
		// A second SIGINT or SIGTERM cuts the wait short.
		for {
			select {
			case s := <-sig:
				if s != syscall.SIGHUP {
					cancel()
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	if err := srv.Shutdown(sctx); err != nil {
		access.Warn("requests still in flight at the end of the grace period were cut", "grace", f.shutdownTimeout.String())
	}
	<-served
	cur.Load().close()
	return nil
}

// buildServed makes the transports and the handler of the current
// configuration, as sc says.
func (a *app) buildServed(args []string, f *serveFlags, sc serving.Config) (*served, error) {
	a.warnStrayKeysEnv()
	conns, err := a.servedConnectors(args)
	if err != nil {
		return nil, err
	}
	bases, err := a.serveBaseURLs(f.baseURLs, conns)
	if err != nil {
		return nil, err
	}
	s := &served{}
	for _, c := range conns {
		cfg, err := a.serveConfig(c)
		if err != nil {
			s.close()
			return nil, err
		}
		opts := sc.TransportOptions()
		if len(cfg.Keys) > 0 {
			opts = append(opts, jongler.WithKeys(cfg.Keys...), jongler.WithBudgets(cfg.Budgets...))
		}
		egressOpts, err := a.egressOptions(c)
		if err != nil {
			s.close()
			return nil, err
		}
		opts = append(opts, egressOpts...)
		if f.tor != "" {
			opts = append(opts, jongler.WithTor(f.tor))
		}
		if u := bases[c.Name]; u != "" {
			opts = append(opts, jongler.WithBaseURL(u))
		}
		t, err := jongler.NewTransport(c.Name, opts...)
		if err != nil {
			s.close()
			return nil, configError(err)
		}
		s.transports = append(s.transports, t)
	}
	popts := sc.ProxyOptions()
	root := f.root
	if keyed := slices.DeleteFunc(slices.Clone(s.transports), func(t *jongler.Transport) bool { return len(t.KeyNames()) == 0 }); root == "" && len(keyed) == 1 {
		// The one connector with keys is served at / too, keyless ones
		// (httpbin.org) aside: base_url = http://127.0.0.1:8787 works.
		root = keyed[0].Connector().Name
	}
	if root != "" {
		popts = append(popts, proxy.WithRoot(root))
	}
	if s.h, err = proxy.New(s.transports, popts...); err != nil {
		s.close()
		return nil, usageErrorf("%s", strings.TrimPrefix(err.Error(), "proxy: "))
	}
	if s.routes, err = a.buildRoutes(s.transports, s.h, sc); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// servedConnectors returns the connectors named in args or, with none,
// every connector with keys in the INI file or the environment.
func (a *app) servedConnectors(args []string) ([]jongler.Connector, error) {
	var out []jongler.Connector
	add := func(c jongler.Connector) {
		if !slices.ContainsFunc(out, func(o jongler.Connector) bool { return o.Name == c.Name }) {
			out = append(out, c)
		}
	}
	if len(args) > 0 {
		for _, n := range args {
			c, err := lookupConnector(n)
			if err != nil {
				return nil, err
			}
			add(c)
		}
		return out, nil
	}
	all, err := jongler.Connectors(connectorsDir())
	if err != nil {
		return nil, configError(err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range all {
			if !yield(n) {
				return
			}
		}
	})
	if a.configFile() != "" {
		f, err := a.iniFile(jongler.ConnectorGemini)
		if err != nil {
			return nil, err
		}
		for _, c := range a.sectionConnectors(f) {
			add(c)
		}
	}
	for _, n := range names {
		if _, ok := envKeys(all[n]); ok {
			add(all[n])
		}
	}
	// Keyless connectors (httpbin.org) are served only when named: each
	// is a relay to its host, for whoever can reach serve.
	if len(out) == 0 {
		return nil, configError(fmt.Errorf("no keys to serve: name an INI file of keys with --config or $%s, or give keys in $%sGEMINI=name1=value1,name2=value2", jongler.ConfigEnv, keysEnvPrefix))
	}
	return out, nil
}

// serveConfig returns the keys and budgets of c: those of its INI section,
// if the file has one, and those of its environment variable.
func (a *app) serveConfig(c jongler.Connector) (jongler.Config, error) {
	var cfg jongler.Config
	if !c.RequiresAPIKey {
		return cfg, nil
	}
	if a.configFile() != "" {
		f, err := a.iniFile(c.Name)
		if err != nil {
			return cfg, err
		}
		if slices.ContainsFunc(f.Connectors(), func(s string) bool { return s == c.Name || slices.Contains(c.Aliases, s) }) {
			if cfg.Keys, cfg.Budgets, err = a.keysFor(c); err != nil {
				return cfg, err
			}
		}
	}
	env, _ := envKeys(c)
	keys, err := parseEnvKeys(env)
	if err != nil {
		return cfg, configError(err)
	}
	for _, k := range keys {
		if slices.ContainsFunc(cfg.Keys, func(o jongler.Key) bool { return o.Name == k.Name }) {
			return cfg, configError(fmt.Errorf("%s: key %q is also in the INI file", env.name, k.Name))
		}
	}
	cfg.Keys = append(cfg.Keys, keys...)
	a.stdout.addKeys(cfg.Keys)
	a.stderr.addKeys(cfg.Keys)
	if len(cfg.Keys) == 0 {
		return cfg, configError(fmt.Errorf("no keys for %s: add a section [%s] to the INI file, or set %s=name1=value1,name2=value2", c.Name, c.Name, envName(c.Name)))
	}
	return cfg, nil
}

// envVar is an environment variable and its value.
type envVar struct{ name, value string }

// envName is the variable that holds the keys of the connector called
// name: APIJONGLER_KEYS_ and the name in upper case, with every character
// other than a letter or digit as '_'.
func envName(name string) string {
	var b strings.Builder
	b.WriteString(keysEnvPrefix)
	for _, r := range strings.ToUpper(name) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// envKeys returns the variable holding c's keys, under its name or an
// alias (the first set, in that order).
func envKeys(c jongler.Connector) (envVar, bool) {
	for _, n := range append([]string{c.Name}, c.Aliases...) {
		if v, ok := os.LookupEnv(envName(n)); ok && strings.TrimSpace(v) != "" {
			return envVar{envName(n), v}, true
		}
	}
	return envVar{}, false
}

// parseEnvKeys reads "name1=value1,name2=value2". Errors name the
// variable and the entry's place, never a value.
func parseEnvKeys(v envVar) ([]jongler.Key, error) {
	if strings.TrimSpace(v.value) == "" {
		return nil, nil
	}
	var keys []jongler.Key
	for i, entry := range strings.Split(v.value, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(entry), "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s: entry %d is not name=value (want name1=value1,name2=value2)", v.name, i+1)
		case value == "":
			return nil, fmt.Errorf("%s: key %q has an empty value", v.name, name)
		case slices.ContainsFunc(keys, func(k jongler.Key) bool { return k.Name == name }):
			return nil, fmt.Errorf("%s: key %q is given twice", v.name, name)
		}
		keys = append(keys, jongler.Key{Name: name, Value: value, Project: name})
	}
	return keys, nil
}

// isLoopback reports whether a listen address is on a loopback interface
// only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// scrubbed returns h writing its answers with every key value and token
// replaced: what /metrics and /status say comes in part from clients (the
// model a request names), and one token holder must not read another's
// token there. The answer is not compressed, so that nothing hides.
func (a *app) scrubbed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd := &redactor{a.stderr.Clone(w)}
		r2 := r.Clone(r.Context())
		r2.Header.Del("Accept-Encoding")
		h.ServeHTTP(scrubWriter{w, rd}, r2)
		rd.Flush()
	})
}

// scrubWriter is a ResponseWriter writing its body through a redactor.
type scrubWriter struct {
	http.ResponseWriter
	rd *redactor
}

func (w scrubWriter) Write(p []byte) (int, error) { return w.rd.Write(p) }

// readiness is the body of /readyz.
type readiness struct {
	Ready bool `json:"ready"`
	// NotReady says, by connector, why it cannot serve now.
	NotReady map[string]string `json:"not_ready,omitempty"`
}

// serveReady answers 200 when every served connector that needs keys has
// one that can take a request now, else 503; the body says which cannot,
// why, and when a key is back, when detail (with Retry-After when known).
func serveReady(w http.ResponseWriter, r *http.Request, s *served, detail bool) {
	rd := readiness{Ready: true}
	var back time.Duration // until every connector not ready has a key back; -1: unknown
	for _, t := range s.transports {
		if len(t.KeyNames()) == 0 {
			continue
		}
		ks, err := t.KeyStates(r.Context())
		why, in := "", time.Duration(-1)
		switch {
		case err != nil:
			why = "the key states cannot be read (state directory or store)"
		case len(ks.Vacant) == 0:
			why, in = notReady(ks, time.Now())
		}
		if why != "" {
			rd.Ready = false
			if rd.NotReady == nil {
				rd.NotReady = map[string]string{}
			}
			rd.NotReady[t.Connector().Name] = why
			if back >= 0 {
				back = max(back, in)
				if in < 0 {
					back = -1
				}
			}
		}
	}
	if !detail {
		rd.NotReady = nil
	}
	w.Header().Set("Content-Type", "application/json")
	if !rd.Ready {
		if detail && back > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(back)))
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rd)
}

// serveMetrics returns the meter provider of the transports, the
// /metrics handler that exposes what they record (serving.NewMetrics) and a
// function that shuts the provider down.
func serveMetrics(readers ...sdkmetric.Reader) (metric.MeterProvider, http.Handler, func(), error) {
	mp, h, err := serving.NewMetrics(buildVersion(version, readBuildInfo), readers...)
	if err != nil {
		return nil, nil, nil, err
	}
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mp.Shutdown(ctx)
	}
	return mp, h, shutdown, nil
}
