package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
)

// keyCmd is `apijongler key`: the dashboard's actions on one key, through
// the store, so that they hold for serve and every other process sharing
// it.
func (a *app) keyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key reset|disable|enable CONNECTOR KEY [--for DURATION]",
		Short: "Reset one key, or disable it for a while (maintenance), in every process sharing the store",
		Long: `key acts on one key by name, in the state directory or the store (--store-file,
$APIJONGLER_STORE), so that serve and every other process sharing it sees it at
once, as the dashboard's buttons and serve's admin API do:

  reset    clear the key's cooldowns and refusal (cleanup, for one key)
  disable  keep the key from being leased for --for (default 1h)
  enable   end a disable (as reset)

Requests in flight keep their keys.`,
		Example: `  apijongler key disable gemini key2 --for 2h
  apijongler key enable gemini key2`,
	}
	var hold time.Duration
	cmd.Args = cobra.ExactArgs(3)
	cmd.ValidArgs = []string{"reset", "disable", "enable"}
	cmd.Flags().DurationVar(&hold, "for", time.Hour, "with disable: how long the key stays out (at most 720h)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !slices.Contains(cmd.ValidArgs, args[0]) {
			return usageErrorf("key %q: want reset, disable or enable", args[0])
		}
		if args[0] != "disable" && cmd.Flags().Changed("for") {
			return usageErrorf("--for goes with key disable only")
		}
		return a.keyAction(cmd, args[0], args[1], args[2], hold)
	}
	return cmd
}

// keyAction applies action to the key called key of connector.
func (a *app) keyAction(cmd *cobra.Command, action, connector, key string, hold time.Duration) error {
	if action == "disable" && (hold <= 0 || hold > maxDisable) {
		return usageErrorf("--for %s: want a duration above 0 and at most %s", hold, maxDisable)
	}
	c, keys, err := a.connectorKeys(connector)
	if err != nil {
		return err
	}
	storeOpts, closeStore, err := a.storeOptions()
	if err != nil {
		return err
	}
	defer closeStore()
	t, err := jongler.NewTransport(c.Name, append([]jongler.Option{jongler.WithKeys(keys...), jongler.WithLogger(a.logger)}, storeOpts...)...)
	if err != nil {
		return configError(err)
	}
	defer t.Close()
	ctx := cmd.Context()
	if action == "disable" {
		err = t.HoldKey(ctx, key, hold, "disabled for maintenance by the command line")
	} else {
		err = t.ResetKey(ctx, key)
	}
	if err != nil {
		return configError(err)
	}
	a.logger.Info("key action", "action", action, "connector", c.Name, "key", key)
	switch action {
	case "disable":
		fmt.Fprintf(a.stdout, "Disabled %s of %s for %s.\n", key, c.Name, hold)
	case "enable":
		fmt.Fprintf(a.stdout, "Enabled %s of %s.\n", key, c.Name)
	default:
		fmt.Fprintf(a.stdout, "Reset %s of %s.\n", key, c.Name)
	}
	return nil
}
