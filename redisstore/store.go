// Package redisstore keeps API Jongler's key state in Redis, so that every
// process on every machine sharing the Redis honours the same leases,
// cooldowns, refusals and budgets:
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"redis:6379"}})
//	store := redisstore.New(client)
//	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithStore(store), ...)
//
// Standalone, Sentinel and Cluster deployments work alike: every Redis key
// of one connector carries the hash tag {connector}.
//
// Leases are exclusive across the fleet (in-flight slots per key), carry a
// TTL renewed by the holder while its request runs, and a fencing token; a
// holder whose lease lapsed (a GC or SIGSTOP pause past the TTL) sees
// [jongler.Lease.Lost] closed and the transport cancels its request. One
// round trip leases (a Lua script), one releases. Times come from the Redis
// server's clock (TIME). Only key names are stored, never a key's value.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/redis/go-redis/v9"
)

// Defaults of the options.
const (
	// DefaultTTL is how long a lease lasts without renewal: the time after
	// which the key of a holder that died is free again.
	DefaultTTL = 10 * time.Second
	// DefaultPrefix starts every Redis key the store writes.
	DefaultPrefix = "jongler:"
	// DefaultStateMaxAge is how old a cached state may be when read before
	// a lease (see [WithStateMaxAge]).
	DefaultStateMaxAge = 100 * time.Millisecond
)

// Store is a [jongler.Store] in Redis. It is safe for concurrent use.
type Store struct {
	client      redis.UniversalClient
	ownsClient  bool
	name        string // how errors name the store: "redis at host:port"
	prefix      string
	ttl         time.Duration
	quiet       time.Duration
	stateMaxAge time.Duration
	clock       interface{ Now() time.Time } // nil: the server's time

	mu    sync.Mutex
	cache map[string]*cached // by connector
	// The server's time at the local monotonic instant syncLocal, learnt
	// from the last script reply.
	syncServer time.Time
	syncLocal  time.Time
	synced     bool
}

// cached is the last state read or written for a connector.
type cached struct {
	ver  string
	data []byte
	seen time.Time // when the server last said ver was current (local, monotonic)
}

// An Option configures a [Store].
type Option func(*Store)

// WithTTL sets how long a lease lasts unless renewed (default
// [DefaultTTL]). The holder renews it every third of it while its request
// runs; a holder that stops renewing (dead, paused) loses it after at most
// ttl, and the key is free again.
func WithTTL(ttl time.Duration) Option {
	return func(s *Store) {
		if ttl > 0 {
			s.ttl = ttl
		}
	}
}

// WithPrefix starts every Redis key the store writes with prefix instead
// of [DefaultPrefix], to share one Redis between deployments.
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// WithRestartQuiet sets how long after its start a Redis server grants no
// lease for a connector whose fencing counter it lacks (default: the lease
// TTL). A server lacks the counter when the connector is new, and when it
// lost its data: restarted without persistence, the leases granted before
// the restart may still be in use and lapse at most one TTL after it. Not
// granting any meanwhile is what Redis's distributed-lock guidance calls a
// delayed restart. A server up for longer than d grants at once (up to a
// second later: Redis counts its uptime in whole seconds). 0 never waits,
// which is only safe when nothing can hold a lease from before.
//
// Data lost otherwise (FLUSHALL on a running server, a failover to a
// replica that missed the last writes) is not detected: leases then in
// force may be granted again until they lapse.
func WithRestartQuiet(d time.Duration) Option {
	return func(s *Store) { s.quiet = max(d, 0) }
}

// WithStateMaxAge bounds how old the cached state may be that Load returns
// when nothing newer was seen (default [DefaultStateMaxAge]; 0: always ask
// Redis). Every reply of Redis says which version of the state is current,
// so the state is read again as soon as it changed; the age only matters
// between round trips. The transport reads the state before a lease, to
// pick candidate keys, and again after it, to check the leased key: the
// second read is never stale (the lease's reply says which version is
// current), so a stale first read costs at most a retry.
func WithStateMaxAge(d time.Duration) Option {
	return func(s *Store) { s.stateMaxAge = max(d, 0) }
}

// WithClock makes [Store.Now] tell c's time instead of the Redis server's,
// for simulations whose every process runs the same simulated clock (such
// as jonglertest's). Lease TTLs still run on the server's clock.
func WithClock(c jongler.Clock) Option { return func(s *Store) { s.clock = c } }

// New returns a Store on client. Closing the store leaves the client open.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		client:      client,
		name:        "redis",
		prefix:      DefaultPrefix,
		ttl:         DefaultTTL,
		quiet:       -1,
		stateMaxAge: DefaultStateMaxAge,
		cache:       map[string]*cached{},
	}
	if c, ok := client.(*redis.Client); ok {
		s.name = "redis at " + c.Options().Addr
	}
	for _, o := range opts {
		o(s)
	}
	if s.quiet < 0 {
		s.quiet = s.ttl
	}
	return s
}

// String names the store in messages: the server's address, never its
// password, and the key prefix.
func (s *Store) String() string { return s.name + " (key prefix " + s.prefix + ")" }

// Open connects to the Redis named by a redis:// or rediss:// (TLS) URL,
// with user and password in the URL if needed, and returns a Store that
// closes its client on Close. Besides go-redis's own URL parameters, the
// query may set lease_ttl (a Go duration, as [WithTTL]) and prefix (as
// [WithPrefix]); options given override them. Errors never repeat the
// URL's password. A call to Redis fails after one retry, and within the
// caller's deadline.
func Open(rawURL string, opts ...Option) (*Store, error) {
	bad := func(err error) error {
		return fmt.Errorf("redisstore: store URL %s: %v", Redact(rawURL), redactErr(err, rawURL))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, bad(errors.New("not a URL"))
	}
	var own []Option
	q := u.Query()
	if v := q.Get("lease_ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, bad(fmt.Errorf("lease_ttl %q: want a positive duration such as 10s", v))
		}
		own = append(own, WithTTL(d))
	}
	if q.Has("prefix") {
		own = append(own, WithPrefix(q.Get("prefix")))
	}
	q.Del("lease_ttl")
	q.Del("prefix")
	u.RawQuery = q.Encode()
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, bad(err)
	}
	// A request's deadline bounds every call to Redis.
	o.ContextTimeoutEnabled = true
	o.DialTimeout = 2 * time.Second
	o.MaxRetries = 1
	o.DialerRetries = 1
	s := New(redis.NewClient(o), append(own, opts...)...)
	s.ownsClient = true
	return s, nil
}

// Close closes the client if the store opened it ([Open]).
func (s *Store) Close() error {
	if s.ownsClient {
		return s.client.Close()
	}
	return nil
}

// tag returns the Redis key for part of connector's data.
func (s *Store) key(connector, part string) string {
	return s.prefix + "{" + connector + "}:" + part
}

// fail wraps an error of Redis, naming the store and what it was doing.
// When ctx is done, the error also matches ctx.Err(): go-redis reports a
// deadline that cut a call short as an i/o timeout.
func (s *Store) fail(ctx context.Context, op, connector string, err error) error {
	if err == nil {
		return nil
	}
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded // the connection's deadline fired first
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisstore: %s: %s for connector %s: %w (%w)", s.name, op, connector, err, cerr)
	}
	return fmt.Errorf("redisstore: %s: %s for connector %s: %w", s.name, op, connector, err)
}

// sync records the server's time (sec, µs) as seen at the midpoint of a
// round trip sent at sent, and the state version the reply carried.
func (s *Store) sync(connector string, sent time.Time, sec, usec, ver any) {
	server := time.Unix(toInt(sec), toInt(usec)*1000)
	rtt := time.Since(sent)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncServer, s.syncLocal, s.synced = server, sent.Add(rtt/2), true
	if c := s.cache[connector]; c != nil {
		if v, _ := ver.(string); v == c.ver {
			c.seen = sent
		} else {
			c.seen = time.Time{}
		}
	}
}

// Now returns the Redis server's time, estimated from the last reply and
// the local monotonic clock: no round trip. The error is at most half a
// round trip, plus the local clock's drift since the last reply. Before any
// reply it is the local time. The transport uses it for every time it
// records or compares, so processes whose clocks disagree still agree on
// when a cooldown ends (see jongler.StoreClock).
func (s *Store) Now() time.Time {
	if s.clock != nil {
		return s.clock.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.synced {
		return time.Now()
	}
	return s.syncServer.Add(time.Since(s.syncLocal))
}

// Acquire implements [jongler.Store] in one round trip.
func (s *Store) Acquire(ctx context.Context, connector string, keys []string, slots int) (jongler.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "\n") {
			return nil, fmt.Errorf("redisstore: key name %q: empty or with a line break", k)
		}
	}
	names := strings.Join(keys, "\n")
	sent := time.Now()
	res, err := acquireScript.Run(ctx, s.client, []string{
		s.key(connector, "fence"), s.key(connector, "lru"), s.key(connector, "leases"),
		s.key(connector, "inflight"), s.key(connector, "quiet"), s.key(connector, "ver"),
	}, s.ttl.Milliseconds(), max(slots, 1), s.quiet.Milliseconds(), names).Slice()
	if err != nil {
		return nil, s.fail(ctx, "acquire", connector, err)
	}
	if len(res) != 5 {
		return nil, s.fail(ctx, "acquire", connector, fmt.Errorf("unexpected reply %v", res))
	}
	s.sync(connector, sent, res[2], res[3], res[4])
	token := toInt(res[0])
	if token == 0 {
		return nil, nil
	}
	key, _ := res[1].(string)
	l := &lease{
		store:     s,
		connector: connector,
		key:       key,
		token:     token,
		member:    strconv.FormatInt(token, 10) + ":" + key,
		expiry:    sent.Add(s.ttl),
		lost:      make(chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go l.watch()
	return l, nil
}

// InFlight implements [jongler.Store].
func (s *Store) InFlight(ctx context.Context, connector string, keys []string, slots int) (map[string]int, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	sent := time.Now()
	res, err := inFlightScript.Run(ctx, s.client, []string{
		s.key(connector, "leases"), s.key(connector, "inflight"), s.key(connector, "ver"),
	}, args...).Slice()
	if err != nil {
		return nil, s.fail(ctx, "count leases", connector, err)
	}
	if len(res) != 3+len(keys) {
		return nil, s.fail(ctx, "count leases", connector, fmt.Errorf("unexpected reply of %d values", len(res)))
	}
	s.sync(connector, sent, res[0], res[1], res[2])
	out := make(map[string]int, len(keys))
	for i, k := range keys {
		if n := toInt(res[3+i]); n > 0 {
			out[k] = int(n)
		}
	}
	return out, nil
}

// Load implements [jongler.Store]. It costs no round trip when the cached
// state is known current (see [WithStateMaxAge]).
func (s *Store) Load(ctx context.Context, connector string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	c := s.cache[connector]
	have := ""
	if c != nil {
		if !c.seen.IsZero() && time.Since(c.seen) <= s.stateMaxAge {
			data := c.data
			s.mu.Unlock()
			return data, nil
		}
		have = c.ver
	}
	s.mu.Unlock()
	sent := time.Now()
	res, err := loadScript.Run(ctx, s.client, []string{s.key(connector, "ver"), s.key(connector, "state")}, have).Slice()
	if err != nil {
		return nil, s.fail(ctx, "load state", connector, err)
	}
	if len(res) < 3 {
		return nil, s.fail(ctx, "load state", connector, fmt.Errorf("unexpected reply %v", res))
	}
	ver, _ := res[2].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(res) == 3 && c != nil && c.ver == ver {
		c.seen = sent
		return c.data, nil
	}
	var data []byte
	if len(res) > 3 {
		if str, ok := res[3].(string); ok {
			data = []byte(str)
		}
	}
	s.cache[connector] = &cached{ver: ver, data: data, seen: sent}
	return data, nil
}

// Update implements [jongler.Store] with WATCH and MULTI: fn runs on the
// state read under WATCH, and runs again if another client wrote the state
// before EXEC.
func (s *Store) Update(ctx context.Context, connector string, fn func(current []byte) ([]byte, error)) error {
	verKey, stateKey := s.key(connector, "ver"), s.key(connector, "state")
	backoff := time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, "update state", connector, err)
		}
		var fnErr error
		var newVer int64
		var written []byte
		sent := time.Now()
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := tx.Get(ctx, stateKey).Bytes()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			next, err := fn(cur)
			if err != nil {
				fnErr = err
				return err
			}
			written = slices.Clone(next)
			var incr *redis.IntCmd
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if next == nil {
					p.Del(ctx, stateKey)
				} else {
					p.Set(ctx, stateKey, next, 0)
				}
				incr = p.Incr(ctx, verKey)
				return nil
			})
			if err != nil {
				return err
			}
			newVer = incr.Val()
			return nil
		}, stateKey)
		switch {
		case fnErr != nil:
			return fnErr
		case errors.Is(err, redis.TxFailedErr):
			// Another client wrote first: read again and redo.
			if err := sleepCtx(ctx, backoff); err != nil {
				return s.fail(ctx, "update state", connector, err)
			}
			backoff = min(backoff*2, 50*time.Millisecond)
			continue
		case err != nil:
			return s.fail(ctx, "update state", connector, err)
		}
		s.mu.Lock()
		s.cache[connector] = &cached{ver: strconv.FormatInt(newVer, 10), data: written, seen: sent}
		s.mu.Unlock()
		return nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// toInt reads an integer from a script reply value.
func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// SpendBudget implements [jongler.BudgetStore] in one round trip: each
// counter is a Redis key under the connector's hash tag, named after the
// counter and its window's start, that expires when the window ends.
func (s *Store) SpendBudget(ctx context.Context, connector string, n int, counters []jongler.BudgetCounter) ([]int, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	keys := make([]string, 1, 1+len(counters))
	keys[0] = s.key(connector, "ver")
	args := make([]any, 1, 1+3*len(counters))
	args[0] = n
	for _, c := range counters {
		keys = append(keys, s.key(connector, "budget:"+c.Name+":"+strconv.FormatInt(c.Start.UnixMilli(), 10)))
		args = append(args, max(c.Limit, 0), c.End.UnixMilli(), max(c.End.Sub(c.Start).Milliseconds(), 1))
	}
	sent := time.Now()
	res, err := spendScript.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return nil, false, s.fail(ctx, "spend budget", connector, err)
	}
	if len(res) != 4+len(counters) {
		return nil, false, s.fail(ctx, "spend budget", connector, fmt.Errorf("unexpected reply of %d values", len(res)))
	}
	s.sync(connector, sent, res[1], res[2], res[3])
	counts := make([]int, len(counters))
	for i := range counts {
		counts[i] = int(toInt(res[4+i]))
	}
	return counts, toInt(res[0]) == 1, nil
}

var (
	_ jongler.BudgetStore = (*Store)(nil)
	_ jongler.StoreClock  = (*Store)(nil)
	_ jongler.Lease       = (*lease)(nil)
)
