package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/redisstore"
)

// A fleet of processes shares one pool of keys through Redis: leases,
// cooldowns and budgets hold across every machine. (Compiled, not run: it
// needs a Redis at redis:6379.)
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"redis:6379"},
		ContextTimeoutEnabled: true, // a request's deadline bounds its calls to Redis
	})
	defer client.Close()
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: "..."}, jongler.Key{Name: "key2", Value: "..."}),
		jongler.WithStore(redisstore.New(client, redisstore.WithTTL(10*time.Second))),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Post(
		"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
		"application/json", nil)
	if err != nil {
		log.Fatal(err) // a lost lease wraps jongler.ErrLeaseLost; Redis down names the store
	}
	resp.Body.Close()
}

// Open takes the URL the command line's --store takes; the password is
// never printed.
func ExampleOpen() {
	store, err := redisstore.Open("rediss://app:secret@redis.example:6380/0?lease_ttl=15s")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ks, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithStore(store),
		jongler.WithKeys(jongler.Key{Name: "key1", Value: "..."}))
	if err != nil {
		log.Fatal(err)
	}
	states, err := ks.KeyStates(context.Background())
	fmt.Println(states.Vacant, err)
}

func ExampleRedact() {
	fmt.Println(redisstore.Redact("redis://app:secret@redis.example:6379/0"))
	// Output: redis://app:xxxxx@redis.example:6379/0
}
