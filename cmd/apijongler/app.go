package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/keyfile"
)

// Exit codes.
const (
	exitOK        = 0 // a 2xx or 3xx answer, or a command that did its work
	exitHTTPError = 1 // the upstream answered with an error status
	exitUsage     = 2 // bad command line or configuration
	exitNoKey     = 3 // every key is cooling down or refused
	exitNoAnswer  = 4 // the request got no answer: network, Tor, interrupted
	exitStore     = 5 // the key store failed (Redis unreachable): nothing was sent
)

// app is one run of the command: its streams and flags.
type app struct {
	stdin  io.Reader
	stdout *redactor
	stderr *redactor
	color  bool // colour on stdout

	configPath string
	logLevel   string
	storeFlag  string // --store: see store.go
	storeFile  string // --store-file: see store.go
	logger     *slog.Logger
	ini        *keyfile.File // the INI file of keys, once read

	// Flags of the request command.
	pretty     bool
	tor        string
	headers    []string      // -H 'Name: value'
	include    bool          // -i: status line and headers on stdout
	timeout    time.Duration // 0: none
	baseURL    string
	cleanup    string // compatibility alias of `cleanup CONNECTOR`
	cleanupAll bool   // compatibility alias of `cleanup --all`
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	a := &app{
		stdin:  stdin,
		stdout: newRedactor(stdout),
		stderr: newRedactor(stderr),
		color:  colorEnabled(stdout, os.LookupEnv),
	}
	a.logger = newLogger(a.stderr, slog.LevelWarn)
	return a
}

// exitError is an error with the exit code it ends the run with. A nil
// err ends the run with code and no message.
type exitError struct {
	code  int
	err   error
	usage bool // print the hint to --help after the message
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a mistake on the command line: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...), usage: true}
}

// configError is a mistake in the configuration: exit code 2.
func configError(err error) error { return &exitError{code: exitUsage, err: err} }

func (a *app) execute(args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	ctx, caught, stop := trapSignals(context.Background())
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	var code int
	if sig, ok := caught(); ok && (cmd == nil || cmd.Annotations[signalEndsCleanly] == "") {
		// The request was cancelled; exit as shells expect of a command
		// a signal ended: 128 + its number (130 for Ctrl-C).
		fmt.Fprintf(a.stderr, "apijongler: interrupted (%s)\n", sig)
		code = 128 + int(sig)
	} else {
		code = a.report(err)
	}
	a.stdout.Flush()
	a.stderr.Flush()
	return code
}

// signalEndsCleanly is the annotation of a command for which SIGINT and
// SIGTERM are the normal way to stop (a server that shuts down when its
// context is cancelled): its own result gives the exit code, not the
// signal.
const signalEndsCleanly = "apijongler/signal-ends-cleanly"

// trapSignals returns a context cancelled by SIGINT or SIGTERM, and a
// function that says which one came, if any. After the first signal the
// default handling is back, so that a second Ctrl-C kills at once; stop
// ends the trap.
func trapSignals(parent context.Context) (ctx context.Context, caught func() (syscall.Signal, bool), stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var (
		mu  sync.Mutex
		got syscall.Signal
		ok  bool
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			mu.Lock()
			got, ok = s.(syscall.Signal)
			mu.Unlock()
			cancel()
		case <-done:
		}
	})
	caught = func() (syscall.Signal, bool) {
		mu.Lock()
		defer mu.Unlock()
		return got, ok
	}
	stop = func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
		cancel()
	}
	return ctx, caught, stop
}

// report prints err for a person and returns the exit code it means.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own complaints: unknown flags and commands.
		fmt.Fprintf(a.stderr, "apijongler: %s\nRun 'apijongler --help' for usage.\n", err)
		return exitUsage
	}
	if ee.err != nil {
		fmt.Fprintf(a.stderr, "apijongler: %s\n", message(ee.err))
		if ee.usage {
			fmt.Fprintln(a.stderr, "Run 'apijongler --help' for usage.")
		}
	}
	return ee.code
}

// message is the text of err without the core's "jongler: " prefix, which
// would only repeat the command's name.
func message(err error) string {
	return strings.TrimPrefix(err.Error(), "jongler: ")
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "apijongler [flags] CONNECTOR METHOD ENDPOINT [BODY]",
		Short: "Call LLM APIs with a pool of keys, rotating away from rate-limited ones",
		Long: `apijongler sends one request to an API with a key from a pool, and when the
key is rate-limited it cools that key down and sends the request again with
the next one. Key states are shared by every process on the machine.

CONNECTOR is a connector's name or alias (gemini, hf). BODY is JSON text,
@FILE to read it from a file, or - to read standard input. The answer's body
goes to standard output as it comes, its status line to standard error (to
standard output before the body, with its headers, under -i).

Keys come from the INI file named by --config or $APIJONGLER_CONFIG, one
section per connector; key states live in $APIJONGLER_STATE_DIR (default
$XDG_STATE_HOME/apijongler, else ~/.local/state/apijongler);
$APIJONGLER_CONNECTORS names a directory of
connector files besides the bundled ones.

Exit codes:
  0    the answer was 2xx or 3xx
  1    the answer was an HTTP error (its body is printed all the same)
  2    usage or configuration error
  3    no key is available now (the message says when one will be)
  4    the request got no answer (network, proxy, --timeout)
  5    the key store failed (a Redis down): no key leased, nothing sent
  130  interrupted by Ctrl-C (SIGINT), the request cancelled; 143 for SIGTERM`,
		Example: `  apijongler demo
  apijongler generativelanguage.googleapis.com POST /v1beta/models/gemini-2.5-flash:generateContent '{"contents":[{"parts":[{"text":"Hello"}]}]}' --pretty
  apijongler gemini POST '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' @request.json --pretty
  apijongler -i -H 'X-Request-Id: 42' --timeout 30s gemini GET /v1beta/models
  apijongler --base-url http://127.0.0.1:8080 gemini GET /v1beta/models
  apijongler status -o wide
  apijongler cleanup generativelanguage.googleapis.com`,
		Args:                       cobra.ArbitraryArgs,
		Version:                    versionString(),
		SilenceErrors:              true,
		SilenceUsage:               true,
		CompletionOptions:          cobra.CompletionOptions{HiddenDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE:          a.setUp,
		RunE:                       a.runRoot,
	}
	root.SetVersionTemplate(`apijongler {{.Version}}` + "\n")
	// --version without cobra's -v shorthand: -v is verbosity elsewhere
	// (kubectl), so it is no flag here.
	root.Flags().Bool("version", false, "print the version (as 'apijongler version')")

	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "INI file of keys (default $"+jongler.ConfigEnv+")")
	pf.StringVar(&a.logLevel, "log-level", "warn", "log to standard error at this level: debug, info, warn or error")
	pf.StringVar(&a.storeFile, "store-file", "", storeFileFlagUsage)
	pf.StringVar(&a.storeFlag, "store", "", storeFlagUsage)

	f := root.Flags()
	f.BoolVar(&a.pretty, "pretty", false, "indent a JSON answer; with server-sent events, each event's JSON as it comes")
	f.StringArrayVarP(&a.headers, "header", "H", nil, "add the request header `'Name: value'` (repeatable)")
	f.BoolVarP(&a.include, "include", "i", false, "print the status line and headers (credentials redacted) before the body, on standard output")
	f.DurationVar(&a.timeout, "timeout", 0, "give up after `DURATION` (waiting for a key included), e.g. 30s; 0: no limit")
	f.StringVar(&a.baseURL, "base-url", "", "send to `URL` (http(s)://host[:port][/path]) instead of the connector's own address")
	f.StringVar(&a.tor, "tor", "", "send every key through Tor's SOCKS5 proxy (at ADDR if given), each on a circuit of its own")
	f.Lookup("tor").NoOptDefVal = "127.0.0.1:9050"
	f.StringVar(&a.cleanup, "cleanup", "", "compatibility alias of 'apijongler cleanup `CONNECTOR`' (the original's flag)")
	f.BoolVar(&a.cleanupAll, "cleanup-all", false, "compatibility alias of 'apijongler cleanup --all' (the original's flag)")

	// One line a command.
	root.AddCommand(a.statusCmd())
	root.AddCommand(a.cleanupCmd())
	root.AddCommand(a.keyCmd()) // keycmd.go
	root.AddCommand(a.demoCmd())
	root.AddCommand(a.versionCmd())
	root.AddCommand(a.serveCmd())
	root.AddCommand(a.tokenCmd())
	root.AddCommand(a.requestCmd(root))
	return root
}

// setUp applies the global flags before any command runs.
func (a *app) setUp(cmd *cobra.Command, args []string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	a.logger = newLogger(a.stderr, level)
	return nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func (a *app) runRoot(cmd *cobra.Command, args []string) error {
	if cmd.Flags().Changed("cleanup") || a.cleanupAll {
		switch {
		case len(args) > 0:
			return usageErrorf("--cleanup and --cleanup-all take no other arguments")
		case a.cleanupAll && a.cleanup != "":
			return usageErrorf("give --cleanup CONNECTOR or --cleanup-all, not both")
		case !a.cleanupAll && a.cleanup == "":
			return usageErrorf("--cleanup needs a CONNECTOR (or use --cleanup-all)")
		}
		return a.doCleanup(a.cleanup)
	}
	switch {
	case len(args) == 0:
		fmt.Fprintf(a.stderr, "Usage: %s\n\n%s\n\n", cmd.UseLine(), cmd.Short)
		return usageErrorf("missing CONNECTOR METHOD ENDPOINT; or try 'apijongler demo'")
	case len(args) < 3:
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usageErrorf("unknown command %q; did you mean %s?", args[0], strings.Join(s, " or "))
		}
		return usageErrorf("want CONNECTOR METHOD ENDPOINT [BODY], got %d argument(s)", len(args))
	case len(args) > 4:
		return usageErrorf("want CONNECTOR METHOD ENDPOINT [BODY], got %d arguments (quote BODY as one argument)", len(args))
	}
	body := ""
	if len(args) == 4 {
		body = args[3]
	}
	return a.doRequest(cmd.Context(), args[0], args[1], args[2], body)
}
