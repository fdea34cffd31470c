package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/api-jongler/jongler"
)

// defaultPoolSummary is how often serve says, at WARN, that a key pool is
// unwell (--pool-summary-interval).
const defaultPoolSummary = time.Minute

// poolSummaryFlagUsage is the help of --pool-summary-interval.
const poolSummaryFlagUsage = "while a connector has a key refused for good, or every key cooling down, log its count of keys in each state at WARN this often (0: never)"

// watchPool logs the pool summary of the transports cur returns every
// interval, until the returned function is called (which waits for the
// watcher to end). An interval of zero or less watches nothing.
func watchPool(ctx context.Context, log *slog.Logger, every time.Duration, cur func() []*jongler.Transport) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				logPoolSummary(ctx, log, cur())
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// logPoolSummary logs, at WARN, one line for each connector whose pool is
// unwell: a key refused for good (it stays refused until a cleanup), every
// key cooling down or refused (no request can be served), or key states
// that cannot be read. The line counts the keys in each state and names
// none, let alone a value; a healthy pool says nothing.
func logPoolSummary(ctx context.Context, log *slog.Logger, transports []*jongler.Transport) {
	for _, t := range transports {
		if len(t.KeyNames()) == 0 {
			continue
		}
		name := t.Connector().Name
		ks, err := t.KeyStates(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("key pool: the key states cannot be read (state directory or store)", "connector", name)
			}
			continue
		}
		var why string
		switch {
		case len(ks.Vacant)+len(ks.Locked) == 0:
			why = "key pool: no key can serve: every key is cooling down or refused"
		case len(ks.Error) > 0:
			why = "key pool: keys refused for good: check them (apijongler status), then run apijongler cleanup"
		default:
			continue
		}
		log.Warn(why, "connector", name, "vacant", len(ks.Vacant), "in_use", len(ks.Locked),
			"cooling", len(ks.Lockdown), "refused", len(ks.Error))
	}
}
