// Command keystates watches the states of a connector's keys, as every
// process sharing the state directory sees them: VACANT (free), LOCKED (a
// request is using it, in this process or another), LOCKDOWN (cooling down
// after a rate limit, until a time) or ERROR (refused for good; clear it
// with a cleanup once the key is fixed).
//
// Run it beside programs that use the keys (such as the other examples):
//
//	export APIJONGLER_CONFIG=$HOME/.config/apijongler/keys.ini
//	go run ./examples/keystates -every 1s
//
// It prints a line whenever the states change, and stops on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/api-jongler/jongler"
)

func main() {
	connector := flag.String("connector", "generativelanguage.googleapis.com", "the connector whose keys to watch")
	every := flag.Duration("every", 2*time.Second, "how often to look")
	once := flag.Bool("once", false, "print the states once and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// The transport is only used to read the shared state: it names the
	// keys (from $APIJONGLER_CONFIG) and the state directory.
	tr, err := jongler.NewTransport(*connector)
	if err != nil {
		log.Fatal(err)
	}

	tick := time.NewTicker(*every)
	defer tick.Stop()
	last := ""
	for {
		ks, err := tr.KeyStates(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if s := describe(ks); s != last || *once {
			fmt.Printf("%s %s\n", time.Now().Format(time.TimeOnly), s)
			last = s
		}
		if *once {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// describe renders the states on one line, keys in name order, such as
// "key1 VACANT | key2 LOCKED (1 in flight) | key3 LOCKDOWN until 15:04:05: 429 Too Many Requests".
func describe(ks jongler.KeyStates) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(ks.Keys)) {
		d := ks.Keys[name]
		s := name + " " + string(d.State)
		switch d.State {
		case jongler.StateLocked:
			s += fmt.Sprintf(" (%d in flight)", d.InFlight)
		case jongler.StateLockdown:
			s += " until " + d.Until.Local().Format(time.TimeOnly)
		}
		if d.Model != "" {
			s += " [" + d.Model + "]"
		}
		if d.Reason != "" {
			s += ": " + d.Reason
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}
