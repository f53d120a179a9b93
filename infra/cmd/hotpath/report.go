package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/infra/bench"
)

// figures are the medians of one series over the rounds.
type figures struct {
	Rate, MinRate, MaxRate float64
	CPU                    time.Duration // per delivery; 0: not measured here
	PerBatch               float64       // messages per handler invocation
	Deliveries             int           // per round
	Again                  int           // messages received again, all rounds
}

func summarize(ss []sample) figures {
	var f figures
	rates := make([]float64, 0, len(ss))
	cpus := make([]time.Duration, 0, len(ss))
	var msgs, batches int
	for _, s := range ss {
		rates, cpus = append(rates, s.rate()), append(cpus, s.cpuPerDelivery())
		msgs, batches = msgs+s.Deliveries, batches+s.Batches
		f.Again += s.Again
		f.Deliveries = s.Deliveries
	}
	if len(ss) == 0 {
		return f
	}
	slices.Sort(rates)
	slices.Sort(cpus)
	f.Rate, f.MinRate, f.MaxRate = median(rates), rates[0], rates[len(rates)-1]
	f.CPU = cpus[len(cpus)/2]
	if len(cpus)%2 == 0 {
		f.CPU = (cpus[len(cpus)/2-1] + cpus[len(cpus)/2]) / 2
	}
	if batches > 0 {
		f.PerBatch = float64(msgs) / float64(batches)
	}
	return f
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// render writes the Consumer hot path section as Markdown.
func render(m bench.Machine, o options, r report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	bare, mem, emu := summarize(r.Bare), summarize(r.Memory), summarize(r.Emulated)

	p("%s\n\n", heading)
	p("The consumer (`shared/deliver`'s Handler, as the deliver function builds it) next to a bare `net/http` loop, in one\n")
	p("process and one run, against the same receiver on loopback answering 200 (`infra/cmd/hotpath`). Each delivery is\n")
	p("a signed envelope with a payload of about 1 KiB, in batches of %d SQS records (template.yaml's BatchSize), the\n", batchSize)
	p("sends of a batch concurrent. The bare loop sends the same body and headers with the same client, %d at a time,\n", batchSize)
	p("and does nothing else. *In-memory store*: Gancho's own work per delivery (decode, batch bookkeeping, envelope,\n")
	p("signature, request, attempt, outcome, logs) plus HTTP. *Through the emulators*: the records in DynamoDB Local,\n")
	p("the messages received from the SQS emulator and deleted there, one batch at a time, as one Lambda instance.\n")
	p("CPU is this process's (sender and receiver together); the emulators' own CPU is not counted.\n")
	p("%d round(s), each running every series once; medians, with the range of deliveries/s over the rounds.\n", o.rounds)
	p("%s\n\n", m.Taken())
	p("| series | deliveries per round | deliveries/s (range) | CPU µs per delivery | messages per batch | bare ÷ this, deliveries/s | this ÷ bare, CPU per delivery |\n")
	p("|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, f figures) {
		p("| %s | %d | %s (%s–%s) | %s | %.1f | %s | %s |\n", name, f.Deliveries, rate(f.Rate), rate(f.MinRate), rate(f.MaxRate),
			micros(f.CPU), f.PerBatch, ratio(bare.Rate, f.Rate), ratio(float64(f.CPU), float64(bare.CPU)))
	}
	row("bare net/http loop", bare)
	row("consumer, in-memory store", mem)
	row("consumer through DynamoDB Local and the SQS emulator", emu)
	if emu.Again > 0 {
		p("\n%d message(s) were received a second time: their first receive never reached the consumer (an answer of the\n", emu.Again)
		p("SQS emulator lost, see `infra/devstack`'s worker), so their round includes a visibility timeout, %s.\n", visibility)
	}
	return b.String()
}

func rate(v float64) string { return fmt.Sprintf("%.0f", v) }

func micros(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
