package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// requestCmd is `apijongler request CONNECTOR METHOD ENDPOINT [BODY]`, the
// bare form's request under the name people guess, with the root's flags
// of a request.
func (a *app) requestCmd(root *cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request CONNECTOR METHOD ENDPOINT [BODY]",
		Short: "Send one request with a key from the pool (as 'apijongler CONNECTOR METHOD ENDPOINT [BODY]')",
		Long: `request sends one request as the bare form does: 'apijongler request gemini GET
/v1beta/models' is 'apijongler gemini GET /v1beta/models'. BODY is JSON text,
@FILE to read it from a file, or - (or @-) to read standard input. See
'apijongler --help' for the exit codes.`,
		Example: `  apijongler request gemini GET /v1beta/models
  echo '{"contents":[{"parts":[{"text":"Hello"}]}]}' | apijongler request gemini POST /v1beta/models/gemini-2.5-flash:generateContent @-`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return usageErrorf("want CONNECTOR METHOD ENDPOINT [BODY], got %d argument(s) (quote BODY as one argument)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			body := ""
			if len(args) == 4 {
				body = args[3]
			}
			return a.doRequest(cmd.Context(), args[0], args[1], args[2], body)
		},
	}
	for _, name := range []string{"pretty", "header", "include", "timeout", "base-url", "tor"} {
		cmd.Flags().AddFlag(root.Flags().Lookup(name)) // one flag, one value: read by doRequest as from the root
	}
	return cmd
}

// refuseIgnoredFlags refuses the global flags naming the user's
// configuration that command name reads none of, rather than ignore them.
func refuseIgnoredFlags(cmd *cobra.Command, name string) error {
	var given []string
	for _, f := range []string{"config", "store", "store-file"} {
		if cmd.Flags().Changed(f) {
			given = append(given, "--"+f)
		}
	}
	if len(given) == 0 {
		return nil
	}
	return usageErrorf("%s uses made-up keys and a throwaway state of its own: it would ignore %s; drop it", name, strings.Join(given, " and "))
}

// addDeprecatedAlias adds to cmd the hidden flag old, setting the same
// value as the flag name; warnDeprecated says so when it is used.
func addDeprecatedAlias(cmd *cobra.Command, old, name string) {
	f := *cmd.Flags().Lookup(name)
	f.Name, f.Shorthand, f.Hidden = old, "", true
	cmd.Flags().AddFlag(&f)
}

// warnDeprecated writes a line to standard error when cmd's flag old, an
// alias of name, was given. (pflag's own deprecation line goes where
// cobra keeps flag errors, and is lost.)
func (a *app) warnDeprecated(cmd *cobra.Command, old, name string) {
	if cmd.Flags().Changed(old) {
		fmt.Fprintf(a.stderr, "apijongler: --%s is deprecated and will go: use --%s\n", old, name)
	}
}
