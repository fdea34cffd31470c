package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"
)

// newTokenBytes is the size of the tokens `token new` makes: 256 random
// bits, as hex.
const newTokenBytes = 32

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make tokens for the clients of serve",
		Args:  cobra.NoArgs,
	}
	var plain bool
	newCmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Print a strong new token for the client NAME, and its line for the tokens file",
		Long: `token new prints a new token of 256 random bits for the client NAME, then the
line to add to serve's tokens file (--tokens-file): by default NAME and the
token's SHA-256, so that the file need not hold the token itself. Give the
token to the client (it is kept nowhere: make a new one if it is lost), add
the line, and send serve SIGHUP. Lines starting with # are comments, so
grep -v '^#' leaves the token and the line.`,
		Example: `  apijongler token new alice
  apijongler token new alice | grep -v '^#' | tail -1 >> tokens`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !clientNameRE.MatchString(name) {
				return usageErrorf("token new: NAME must be 1 to 64 letters, digits or ._@-, starting with a letter or digit")
			}
			var b [newTokenBytes]byte
			rand.Read(b[:]) // never fails (crypto/rand)
			tok := hex.EncodeToString(b[:])
			line := name + " " + hashPrefix + fmt.Sprintf("%x", sha256.Sum256([]byte(tok)))
			if plain {
				line = name + " " + tok
			}
			fmt.Fprintf(a.stdout, "# the token of %s, shown once: give it to %s; it is kept nowhere\n%s\n", name, name, tok)
			fmt.Fprintf(a.stdout, "# add this line to the tokens file (--tokens-file), then send serve SIGHUP\n%s\n", line)
			return nil
		},
	}
	newCmd.Flags().BoolVar(&plain, "plain", false, "put the token itself in the line, not its SHA-256")
	cmd.AddCommand(newCmd)
	return cmd
}
