package loadbench

import (
	"fmt"
	"io"
	"math"
	"strings"

	benchdoc "github.com/gancho-dev/gancho/infra/bench"
)

// Heading starts the section Render writes.
const Heading = "## End to end"

// Rows are the first cells of the summary table, each always written.
var Rows = []string{
	"highest rate held",
	"p50 / p95 / p99 at",
	"delivered when offered twice the held rate",
	"publishes refused (503) when offered twice the held rate",
	"backlog drained after the overload in",
	"Gancho CPU per delivered event at the held rate",
	"DynamoDB Local CPU per delivered event at the held rate",
	"SQS emulator CPU per delivered event at the held rate",
	"Gancho peak RSS at the held rate",
}

// Render writes the "## End to end" section as Markdown.
func Render(w io.Writer, m benchdoc.Machine, cfg Config, r Result) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("%s\n\n", Heading)
	p("Publish-to-receive figures of the whole local stack, as `make run` starts it: DynamoDB Local, the SQS\n")
	p("emulator and the gancho-local process (API, delivery worker, sweeper), one subscription to a loopback\n")
	p("receiver that answers 200 at once, and an open-loop publisher (`POST /v1/events` at a fixed rate, up to %d\n", cfg.MaxInFlight)
	p("publishes in flight, whatever the answers). Publisher, receiver, emulators and Gancho share the machine's\n")
	p("CPUs, so these are the figures of one small box, not of AWS, where Lambda and the managed services scale\n")
	p("apart. Taken %s on %d CPUs (%s), %s memory, commit %s, with `%s`.\n\n", m.Date.Format("2006-01-02"), m.CPUs, m.CPU, m.Memory, m.Commit, m.Command)
	p("A rate is held when the deliveries received during its %s are within 5 %% of the offered rate and the\n", cfg.HoldFor)
	p("backlog (accepted minus received) does not grow over the last third. CPU is each process tree's user +\n")
	p("system time from /proc over the step, divided by the deliveries received in it; peak RSS is Gancho's VmHWM\n")
	p("over the step. Latency is from sending the publish to the receiver's first receipt.\n\n")

	p("| figure | value |\n|---|---:|\n")
	held := "none of the rates tried"
	if r.Held > 0 {
		held = fmt.Sprintf("%s events/s for %s", num(r.Held), cfg.HoldFor)
	}
	p("| %s | %s |\n", Rows[0], held)
	for _, l := range r.Latency {
		p("| %s %s events/s | %s / %s / %s |\n", Rows[1], num(l.Rate), FormatLatency(l.P50), FormatLatency(l.P95), FormatLatency(l.P99))
	}
	if len(r.Latency) == 0 {
		p("| %s – | – |\n", Rows[1])
	}
	if o := r.Overload; o != nil {
		share := "–"
		if r.Held > 0 {
			share = fmt.Sprintf("%.0f %% of the held rate", 100*o.Delivered/r.Held)
		}
		p("| %s (%s events/s for %s) | %.1f events/s (%s) |\n", Rows[2], num(o.Rate), o.For, o.Delivered, share)
		p("| %s | %d of %d offered (%d failed, %d not sent) |\n", Rows[3], o.Refused, o.Offered, o.Failed, o.Unsent)
		drain := fmt.Sprintf("%.1f s", r.Drained.Seconds())
		if r.Left > 0 {
			drain = fmt.Sprintf("not within %s (%d events left)", r.Drained, r.Left)
		}
		p("| %s | %s |\n", Rows[4], drain)
	} else {
		p("| %s | – |\n| %s | – |\n| %s | – |\n", Rows[2], Rows[3], Rows[4])
	}
	if s := r.HeldStep; s != nil {
		p("| %s | %s ms |\n", Rows[5], ms(s.CPU.PerEvent(s.CPU.Gancho)))
		p("| %s | %s ms |\n", Rows[6], ms(s.CPU.PerEvent(s.CPU.DynamoDB)))
		p("| %s | %s ms |\n", Rows[7], ms(s.CPU.PerEvent(s.CPU.SQS)))
		p("| %s | %.0f MiB |\n", Rows[8], float64(s.PeakRSS)/(1<<20))
	} else {
		for _, row := range Rows[5:] {
			p("| %s | – (no rate held) |\n", row)
		}
	}

	p("\n### Latency\n\n")
	p("| offered | accepted / refused / failed | delivered | p50 | p95 | p99 | not received within %s |\n|---:|---:|---:|---:|---:|---:|---:|\n", cfg.SettleWait)
	for _, l := range r.Latency {
		p("| %s/s for %s | %d / %d / %d | %.1f/s | %s | %s | %s | %d |\n", num(l.Rate), cfg.LatencyFor, l.Accepted, l.Refused, l.Failed+l.Unsent,
			l.Delivered, FormatLatency(l.P50), FormatLatency(l.P95), FormatLatency(l.P99), l.NotReceived)
	}

	p("\n### Rates tried\n\n")
	p("| offered | accepted / refused / failed | delivered | backlog growth, last third | held | p50 / p99 | Gancho CPU/event | DynamoDB Local | SQS emulator | Gancho peak RSS |\n")
	p("|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|\n")
	steps := r.Ladder
	if r.Overload != nil {
		steps = append(append([]Step(nil), steps...), *r.Overload)
	}
	for i, s := range steps {
		heldCell := map[bool]string{true: "yes", false: "no"}[s.Held]
		label := num(s.Rate) + "/s"
		if i == len(r.Ladder) {
			label += " (2×)"
			heldCell = "–"
		}
		p("| %s | %d / %d / %d | %.1f/s | %d | %s | %s / %s | %s ms | %s ms | %s ms | %.0f MiB |\n", label,
			s.Accepted, s.Refused, s.Failed+s.Unsent, s.Delivered, s.BacklogGrowth, heldCell, FormatLatency(s.P50), FormatLatency(s.P99),
			ms(s.CPU.PerEvent(s.CPU.Gancho)), ms(s.CPU.PerEvent(s.CPU.DynamoDB)), ms(s.CPU.PerEvent(s.CPU.SQS)), float64(s.PeakRSS)/(1<<20))
	}
	p("\n")
}

func num(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}
