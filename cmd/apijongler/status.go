package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/keyfile"
)

// keyStatus is one key's line of `status`, and its JSON object.
type keyStatus struct {
	Connector string           `json:"connector"`
	Key       string           `json:"key"`
	Project   string           `json:"project,omitempty"`
	State     jongler.KeyState `json:"state"`
	Reason    string           `json:"reason,omitempty"`
	Model     string           `json:"model,omitempty"`
	// Until is when a lockdown ends.
	Until time.Time `json:"until,omitzero"`
	// RecoversIn is the seconds until then.
	RecoversIn float64 `json:"recovers_in_seconds,omitempty"`
	InFlight   int     `json:"in_flight"`
	// Egress is the key's way out (scheme://host:port, no credentials),
	// and EgressDown whether its proxy failed and the key rests.
	Egress     string `json:"egress,omitempty"`
	EgressDown bool   `json:"egress_down,omitempty"`
	// Learned lists the request quotas learned for the key's project.
	Learned []learnedStatus `json:"learned_quotas,omitempty"`
}

// learnedStatus is a quota learned from the upstream's refusals.
type learnedStatus struct {
	Model  string    `json:"model"`
	Window string    `json:"window"`
	Limit  int       `json:"limit"`
	At     time.Time `json:"learned_at"`
	From   string    `json:"from,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var (
		asJSON bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "status [CONNECTOR] [-o wide|json]",
		Short: "Show the state of every key, by name: ready, in use, cooling down or refused",
		Long: `status shows every key of CONNECTOR, or of every connector in the INI file of
keys, by name (never by value): its state, why it is held back and for which
model, how long until it recovers, and how many requests use it now, in this
process or any other.

States: VACANT (ready), LOCKED (in use), LOCKDOWN (cooling down until it
recovers by itself), ERROR (refused by the upstream; 'apijongler cleanup'
clears it once the key is fixed).

The table has one line a key, its reason cut to fit; -o wide shows whole
reasons, each key's project and when its lockdown ends; -o json (or
--json) prints a JSON array, for scripts.`,
		Example: `  apijongler status
  apijongler status -o wide
  apijongler status generativelanguage.googleapis.com -o json | jq '.[] | select(.state != "VACANT")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case asJSON && output != "" && output != "json":
				return usageErrorf("give --json or -o %s, not both", output)
			case asJSON:
				output = "json"
			case output != "" && output != "wide" && output != "json":
				return usageErrorf("-o %q: want wide or json (or nothing, for the table)", output)
			}
			rows, err := a.gatherStatus(cmd.Context(), args)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			a.printStatus(rows, output == "wide")
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "`wide`: whole reasons, projects, end times; json: a JSON array")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of keys, for scripts (as -o json)")
	return cmd
}

// gatherStatus reads the states of the keys of the connector named in
// args, or of every connector of the configuration.
func (a *app) gatherStatus(ctx context.Context, args []string) ([]keyStatus, error) {
	var names []string
	if len(args) == 1 {
		names = args
	} else {
		f, err := a.iniFile(jongler.ConnectorGemini)
		if err != nil {
			return nil, err
		}
		for _, c := range a.sectionConnectors(f) {
			names = append(names, c.Name)
		}
		for _, s := range f.Qualifiers() {
			base, _ := keyfile.Base(s)
			if c, err := jongler.LookupConnector(base, connectorsDir()); err == nil && slices.Contains(names, c.Name) {
				continue // its connector's keys are under an alias or its name
			}
			a.logger.Warn("config section qualifies a connector without a section of keys; skipped", "section", s)
		}
		if len(names) == 0 {
			return nil, configError(fmt.Errorf("config file %s has no section for a known connector; add one such as:\n%s", f.Path, keyfile.ExampleSection(jongler.ConnectorGemini)))
		}
	}
	storeOpts, closeStore, err := a.storeOptions()
	if err != nil {
		return nil, err
	}
	defer closeStore()
	var transports []*jongler.Transport
	for _, name := range names {
		c, keys, err := a.connectorKeys(name)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			fmt.Fprintf(a.stderr, "%s needs no key\n", c.Name)
			continue
		}
		egressOpts, err := a.egressOptions(c)
		if err != nil {
			return nil, err
		}
		t, err := jongler.NewTransport(c.Name, slices.Concat([]jongler.Option{jongler.WithKeys(keys...), jongler.WithLogger(a.logger)}, egressOpts, storeOpts)...)
		if err != nil {
			return nil, configError(err)
		}
		transports = append(transports, t)
	}
	rows, err := statusRows(ctx, transports)
	if err != nil {
		return nil, configError(err) // the state directory or store cannot be read
	}
	return rows, nil
}

// statusRows returns the rows of `status`, and of serve's /status, for the
// transports' keys: each key's state and the quotas learned for its
// project. A transport without keys has no row.
func statusRows(ctx context.Context, transports []*jongler.Transport) ([]keyStatus, error) {
	rows := []keyStatus{}
	now := time.Now()
	for _, t := range transports {
		names := t.KeyNames()
		if len(names) == 0 {
			continue
		}
		ks, err := t.KeyStates(ctx)
		if err != nil {
			return nil, err
		}
		c := t.Connector()
		for _, n := range names {
			d := ks.Keys[n]
			r := keyStatus{
				Connector: c.Name, Key: n, Project: d.Project, State: d.State,
				Reason: d.Reason, Model: d.Model, InFlight: d.InFlight,
				Egress: d.Egress, EgressDown: d.EgressDown,
			}
			for _, l := range ks.Learned {
				if l.Project == d.Project {
					r.Learned = append(r.Learned, learnedStatus{Model: l.Model, Window: l.Window, Limit: l.Limit, At: l.At.UTC(), From: l.From})
				}
			}
			if d.State == jongler.StateLockdown {
				r.Until = d.Until.UTC()
				r.RecoversIn = max(0, d.Until.Sub(now).Round(100*time.Millisecond).Seconds())
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// printStatus prints the keys as a table per connector, one line a key;
// wide shows whole reasons, projects and end times.
func (a *app) printStatus(rows []keyStatus, wide bool) {
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Connector == rows[i].Connector {
			j++
		}
		group := rows[i:j]
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		ready := 0
		for _, r := range group {
			if r.State == jongler.StateVacant {
				ready++
			}
		}
		fmt.Fprintf(a.stdout, "%s: %s, %d ready\n", a.paint(ansiBold, group[0].Connector), plural(len(group), "key"), ready)
		t := table{header: []string{"KEY", "STATE", "REASON", "MODEL", "RECOVERS IN", "IN FLIGHT"}}
		if wide {
			t.header = []string{"KEY", "PROJECT", "STATE", "MODEL", "RECOVERS IN", "UNTIL", "IN FLIGHT", "REASON"}
		}
		for _, r := range group {
			reason := oneLine(r.Reason)
			if !wide {
				t.add([]string{r.Key, string(r.State), orDash(shorten(reason, 60)), orDash(r.Model), recovery(r), fmt.Sprint(r.InFlight)},
					[]string{"", stateColor(r.State), "", "", "", ""})
				continue
			}
			until := "-"
			if !r.Until.IsZero() {
				until = r.Until.Local().Format(time.DateTime)
			}
			t.add([]string{r.Key, orDash(r.Project), string(r.State), orDash(r.Model), recovery(r), until, fmt.Sprint(r.InFlight), orDash(reason)},
				[]string{"", "", stateColor(r.State), "", "", "", "", ""})
		}
		addEgressColumn(&t, group)
		t.print(a, "  ")
		a.printLearned(group)
		i = j
	}
}

// printLearned lists the quotas learned for the projects of a connector's
// keys, once a project.
func (a *app) printLearned(group []keyStatus) {
	var seen []string
	for _, r := range group {
		if len(r.Learned) == 0 || slices.Contains(seen, r.Project) {
			continue
		}
		seen = append(seen, r.Project)
		for _, l := range r.Learned {
			fmt.Fprintf(a.stdout, "  learned: %s %s %d/%s, at %s, from %s\n", orDash(r.Project), l.Model, l.Limit, l.Window,
				l.At.Local().Format(time.DateTime), orDash(l.From))
		}
	}
}

// recovery says when a key is ready again.
func recovery(r keyStatus) string {
	switch r.State {
	case jongler.StateLockdown:
		return humanDuration(time.Duration(r.RecoversIn * float64(time.Second)))
	case jongler.StateError:
		return "after cleanup"
	}
	return "-"
}

// humanDuration shows d to the second, or to the tenth below ten seconds.
func humanDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a reason on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// table lays out columns by the width of their plain text, so that colour
// codes do not upset the alignment.
type table struct {
	header []string
	rows   [][]string
	colors [][]string
}

func (t *table) add(cells, colors []string) {
	t.rows = append(t.rows, cells)
	t.colors = append(t.colors, colors)
}

func (t *table) print(a *app, indent string) {
	widths := make([]int, len(t.header))
	for _, row := range slices.Concat([][]string{t.header}, t.rows) {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(cells, colors []string, rowColor string) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range cells {
			pad := ""
			if i < len(cells)-1 {
				pad = strings.Repeat(" ", widths[i]-len([]rune(c))+2)
			}
			color := rowColor
			if colors != nil && colors[i] != "" {
				color = colors[i]
			}
			b.WriteString(a.paint(color, c))
			b.WriteString(pad)
		}
		fmt.Fprintln(a.stdout, strings.TrimRight(b.String(), " "))
	}
	line(t.header, nil, ansiDim)
	for i, row := range t.rows {
		line(row, t.colors[i], "")
	}
}

// plural returns "1 key", "2 keys".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// addEgressColumn adds the keys' ways out to the table, before its last
// column, when a key of the group has one: the proxy by scheme, host and
// port, and "(down)" while it failed and its keys rest.
func addEgressColumn(t *table, group []keyStatus) {
	if !slices.ContainsFunc(group, func(r keyStatus) bool { return r.Egress != "" }) {
		return
	}
	at := len(t.header) - 1
	t.header = slices.Insert(t.header, at, "EGRESS")
	for i, r := range group {
		cell, color := orDash(r.Egress), ""
		if r.EgressDown {
			cell, color = cell+" (down)", ansiYellow
		}
		t.rows[i] = slices.Insert(t.rows[i], at, cell)
		t.colors[i] = slices.Insert(t.colors[i], at, color)
	}
}
