// Command apijongler sends requests to LLM APIs with a pool of keys,
// rotating to the next key when one is rate-limited, as the original API
// Jongler's command did; it also shows the keys' states, clears them, and
// runs a self-contained demo.
//
//	apijongler [--config PATH] CONNECTOR METHOD ENDPOINT [BODY] [--pretty] [--tor]
//	           [-H 'Name: value']... [-i] [--timeout D] [--base-url URL]
//	apijongler status [CONNECTOR] [-o wide|json]
//	apijongler cleanup [CONNECTOR | --all]     (or --cleanup CONNECTOR, --cleanup-all)
//	apijongler demo
//	apijongler version                         (or --version)
//	apijongler serve [CONNECTOR...] [--listen ADDR] [--token-file FILE]...   (a key-rotating proxy)
//
// Exit codes: 0 for a 2xx or 3xx answer, 1 for an HTTP error answer (its
// body is still printed), 2 for usage and configuration errors, 3 when no
// key is available, 4 when the request got no answer at all, 5 when the
// key store failed (nothing sent), 130 (143) when SIGINT (SIGTERM)
// cancelled it.
package main

import (
	"io"
	"log"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code.
//
// What the standard library logs through the log package (net/http's
// "Unsolicited response received on idle HTTP channel starting with ...",
// which quotes bytes an upstream sent, the key it was sent among them)
// goes to stderr through the same redactor as everything else: the
// process has one stderr, and run is the process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	log.SetOutput(a.stderr)
	log.SetFlags(0)
	log.SetPrefix("apijongler: ")
	return a.execute(args)
}
