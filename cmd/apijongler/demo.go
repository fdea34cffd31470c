package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Show keys rotating, cooling down and coming back, with no keys and no network",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not yet")
		},
	}
}
