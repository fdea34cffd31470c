package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// report writes the tables of rows, in Markdown: a column for each front,
// the bare proxy (fronts[0]) first, a row for each count of connections.
func report(w io.Writer, fronts []*front, rows []row) {
	head := func(title string) {
		fmt.Fprintf(w, "\n%s\n\n| connections |", title)
		for _, f := range fronts {
			fmt.Fprintf(w, " %s |", f.name)
		}
		fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" ---: |", len(fronts)))
	}
	table := func(title string, cell func(r row, i int) string) {
		head(title)
		for _, r := range rows {
			fmt.Fprintf(w, "| %d |", r.conns)
			for i := range fronts {
				fmt.Fprintf(w, " %s |", cell(r, i))
			}
			fmt.Fprintln(w)
		}
	}
	table("Throughput: the bare proxy's requests per second; the others' as a ratio to it, round by round",
		func(r row, i int) string {
			if i == 0 {
				return summarize(figures(r.samples[0], func(s sample) float64 { return s.rps })).format("%.0f", "/s")
			}
			return summarize(ratios(r.samples[i], r.samples[0], func(s sample) float64 { return s.rps })).format("%.2f", "×")
		})
	table("p99 latency: the bare proxy's; the others' as a ratio to it, round by round",
		func(r row, i int) string {
			if i == 0 {
				return summarize(figures(r.samples[0], func(s sample) float64 { return micros(s.p99) })).format("%.0f", " µs")
			}
			return summarize(ratios(r.samples[i], r.samples[0], func(s sample) float64 { return float64(s.p99) })).format("%.2f", "×")
		})
	table("CPU time of the front's process per request",
		func(r row, i int) string {
			if r.samples[i][0].cpu < 0 {
				return "–"
			}
			return summarize(figures(r.samples[i], func(s sample) float64 { return micros(s.cpu) })).format("%.0f", " µs")
		})
	table("New upstream connections per request",
		func(r row, i int) string {
			return summarize(figures(r.samples[i], func(s sample) float64 { return s.newConns })).format("%.3f", "")
		})
	var errs int64
	for _, r := range rows {
		for _, ss := range r.samples {
			for _, s := range ss {
				errs += s.errors
			}
		}
	}
	if errs > 0 {
		fmt.Fprintf(w, "\nWARNING: %d requests failed or were not answered 200 (not counted above)\n", errs)
	}
}

// figures returns f of each sample.
func figures(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// ratios returns, round by round, f of a front's sample over f of the
// baseline's in the same round.
func ratios(ss, base []sample, f func(sample) float64) []float64 {
	out := make([]float64, 0, len(ss))
	for i := range min(len(ss), len(base)) {
		if b := f(base[i]); b > 0 {
			out = append(out, f(ss[i])/b)
		}
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
