package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
)

func (a *app) cleanupCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "cleanup [CONNECTOR | --all]",
		Short: "Clear the lockdown and error states of a connector's keys, or of every connector's",
		Long: `cleanup makes the keys of CONNECTOR (or of every connector, with --all) ready
again: it clears their cooldowns and refusals. Requests in flight keep their
keys until they end.

The original API Jongler's flags --cleanup CONNECTOR and --cleanup-all are
kept as compatibility aliases of 'cleanup CONNECTOR' and 'cleanup --all'.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usageErrorf("give CONNECTOR or --all, not both")
			case !all && len(args) == 0:
				return usageErrorf("cleanup needs a CONNECTOR, or --all for every connector")
			case all:
				return a.doCleanup("")
			}
			return a.doCleanup(args[0])
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "clear the states of every connector")
	return cmd
}

// doCleanup clears the lockdown and error records of connector, or of every
// connector when it is "".
func (a *app) doCleanup(connector string) error {
	if connector != "" {
		c, err := lookupConnector(connector)
		if err != nil {
			return err
		}
		connector = c.Name // an alias clears its connector's states
	}
	if err := a.clearStates(connector); err != nil {
		return configError(err)
	}
	if connector == "" {
		fmt.Fprintln(a.stdout, "Cleared the lockdown and error states of every connector.")
	} else {
		fmt.Fprintf(a.stdout, "Cleared the lockdown and error states of %s.\n", connector)
	}
	return nil
}

// clearStates clears connector's records in the state directory, or every
// known connector's when it is "".
func (a *app) clearStates(connector string) error {
	store, closeStore, err := a.openStore()
	if err != nil {
		return err
	}
	defer closeStore()
	if store == nil {
		dir, err := jongler.DefaultStateDir()
		if err != nil {
			return err
		}
		fs, err := jongler.NewFileStore(dir, a.logger)
		if err != nil {
			return err
		}
		defer fs.Close()
		store = fs
	}
	names := []string{connector}
	if connector == "" {
		all, err := jongler.Connectors(os.Getenv(jongler.ConnectorsDirEnv))
		if err != nil {
			return err
		}
		names = slices.Sorted(maps.Keys(all))
	}
	return jongler.Cleanup(context.Background(), store, names...)
}
