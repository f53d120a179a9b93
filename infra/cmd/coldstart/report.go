package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/infra/bench"
)

// render writes the Cold start section as Markdown.
func render(m bench.Machine, o options, r report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	fs := slices.Clone(r.Functions)
	slices.SortFunc(fs, func(a, b function) int { return strings.Compare(a.Name, b.Name) })

	p("%s\n\n", heading)
	p("Every function of `functions/` built as `make build` builds it (`CGO_ENABLED=0 GOOS=linux -tags lambda.norpc\n")
	p("-trimpath -ldflags='-s -w'`), then started as a new process under a local Lambda Runtime API (`infra/lambdatest`)\n")
	p("and given its sample event from `events/`, against DynamoDB Local and the SQS emulator on loopback.\n")
	p("%s %s, linux/%s.\n\n", m.Taken(), r.GoVersion, r.Arch)
	p("*To first poll*: from exec to the function's first `GET /runtime/invocation/next`, the end of its init\n")
	p("(configuration, AWS clients, wiring). *To first answer*: from exec to its answer to the sample event, the\n")
	p("first calls to DynamoDB and SQS on new connections included. Median of %d start(s) of each, one process at a\n", r.Runs)
	p("time, round by round. The binary is in the page cache and the process may use every CPU of the machine\n")
	p("(Lambda downloads the code and gives 256 MB a fraction of one): compare functions and commits with these\n")
	p("figures; they are not Lambda's Init Duration. The tenant key of the samples is seeded so API routes get past\n")
	p("authentication, not the ids their paths name: *answer* shows what the first invocation returned.\n\n")
	if r.BuildCold > 0 {
		p("Build: one `go build` of all %d functions for linux/%s took %s from an empty build cache, %s with it warm.\n\n",
			len(fs), r.Arch, seconds(r.BuildCold), seconds(r.BuildWarm))
	} else {
		p("Build: one `go build` of all %d functions for linux/%s took %s with the build cache as found.\n\n",
			len(fs), r.Arch, seconds(r.BuildWarm))
	}

	p("| function | bootstrap linux/%s | bootstrap linux/arm64 | to first poll | to first answer | answer |\n", r.Arch)
	p("|---|---:|---:|---:|---:|---|\n")
	var size, sizeArm int64
	var polls, answers []time.Duration
	slowest := function{}
	for _, f := range fs {
		poll, answer := median(f.ToPoll), median(f.ToAnswer)
		p("| %s | %s | %s | %s | %s | %s |\n", f.Name, mib(f.Size), mib(f.SizeArm64), millis(poll), millis(answer), f.Answer)
		size += f.Size
		sizeArm += f.SizeArm64
		polls, answers = append(polls, poll), append(answers, answer)
		if slowest.Name == "" || answer > median(slowest.ToAnswer) {
			slowest = f
		}
	}
	p("| **all %d**: total size; median of the functions | %s | %s | %s | %s | |\n\n", len(fs), mib(size), mib(sizeArm), millis(median(polls)), millis(median(answers)))
	if slowest.Name != "" {
		p("Slowest to its first answer: %s, %s.\n", slowest.Name, millis(median(slowest.ToAnswer)))
	}
	return b.String()
}

// median is the middle value (the mean of the two middle ones for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(n int64) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
