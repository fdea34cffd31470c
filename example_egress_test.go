package jongler_test

import (
	"context"
	"fmt"
	"log"

	"github.com/api-jongler/jongler"
)

// Each key leaves through the proxy its project is given, the others
// directly; KeyStates shows each key's way out, never a proxy's password.
func ExampleWithEgress() {
	proxies := map[string]string{"team-a": "socks5h://user:password@127.0.0.1:1080"}
	t, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(
			jongler.Key{Name: "key1", Value: "sk-example-1", Project: "team-a"},
			jongler.Key{Name: "key2", Value: "sk-example-2"},
		),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithEgress(func(k jongler.Key) string {
			if p, ok := proxies[k.Project]; ok {
				return p
			}
			return "direct"
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	ks, err := t.KeyStates(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range t.KeyNames() {
		fmt.Println(name, ks.Keys[name].Egress)
	}
	// Output:
	// key1 socks5h://127.0.0.1:1080
	// key2 direct
}
