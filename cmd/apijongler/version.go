package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the Go toolchain that built it (as --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(a.stdout, "apijongler %s\n", versionString())
			return err
		},
	}
}

// version is the release, set when building with
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/apijongler
//
// When unset it is the module's version from the build information, as
// `go install github.com/api-jongler/jongler/cmd/apijongler@latest` records
// it, or "devel" with the VCS revision for a build from a work tree.
var version string

// versionString returns the version and the Go toolchain that built it.
func versionString() string {
	return buildVersion(version, readBuildInfo) + " (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

func readBuildInfo() (*debug.BuildInfo, bool) { return debug.ReadBuildInfo() }

// buildVersion picks the version: v if set, else the module version, else
// "devel" and the revision, if known.
func buildVersion(v string, info func() (*debug.BuildInfo, bool)) string {
	if v != "" {
		return v
	}
	bi, ok := info()
	if !ok {
		return "devel"
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		return mv
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev + modified
}
