package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestServeMountsKeylessOnlyWhenNamed: serve without CONNECTOR serves the
// connectors with keys only; a keyless one (httpbin.org), an open relay
// nobody asked for, is served only when named on the command line.
func TestServeMountsKeylessOnlyWhenNamed(t *testing.T) {
	t.Setenv(jongler.ConfigEnv, "")
	t.Setenv(jongler.ConnectorsDirEnv, "")
	t.Setenv(envName(jongler.ConnectorGemini), "")
	t.Setenv(envName("gemini"), "k1=lit-secret-mount-0123456789abcdef")
	a := newApp(strings.NewReader(""), io.Discard, io.Discard)
	names := func(cs []jongler.Connector) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	got, err := a.servedConnectors(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); !slices.Equal(n, []string{jongler.ConnectorGemini}) {
		t.Fatalf("served without CONNECTOR: %v; want the connector with keys only", n)
	}
	got, err = a.servedConnectors([]string{"gemini", "httpbin.org"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); !slices.Equal(n, []string{jongler.ConnectorGemini, jongler.ConnectorHTTPBin}) {
		t.Fatalf("served with httpbin.org named: %v", n)
	}
}
