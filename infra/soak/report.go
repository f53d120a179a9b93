package soak

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Print writes the report. Its last line is "soak: N passed, N failed" over the checks:
// nothing lost, no extra event, and each idempotency probe.
func (r Result) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, "soak: "+format+"\n", args...) }
	p("published   %d events (%d subscriptions each; %d publish requests retried)", r.Published, Subscriptions, r.Retries)
	p("expected    %d deliveries", r.Expected)
	p("delivered   %d (received by their receiver)", r.Delivered)
	p("duplicates  %d (received more than once: %d the same event again, %d another event of the same publish)",
		r.Duplicates, r.Redelivered, r.Duplicates-r.Redelivered)
	p("failed      %d (schedule exhausted, failed in the API)", r.Failed)
	p("lost        %d", r.Lost)
	p("publish-to-receive  p50 %s  p99 %s", round(r.P50), round(r.P99))
	p("extra events %d; received but failed in the API %d", r.ExtraEvents, r.ReceivedFailed)
	p("receiver answers: %s", counts(r.Answers))
	p("API delivery statuses: %s", counts(r.APIStatus))
	for _, k := range r.Kills {
		p("SIGKILL while %s: %d events accepted, %d deliveries received; restarted in %s", k.When, k.Published, k.Received, round(k.Restart))
	}
	for _, pr := range r.Probes {
		verdict := "ok  "
		if !pr.Passed {
			verdict = "FAIL"
		}
		p("%s idempotency after a crash, key in %s (%s, %s): %s", verdict, pr.Form, pr.Name, pr.Cut, pr.Detail)
	}
	if len(r.LostPairs) > 0 {
		var shown []string
		for _, lp := range r.LostPairs[:min(len(r.LostPairs), 20)] {
			shown = append(shown, fmt.Sprintf("event #%d to subscription %d", lp.Seq, lp.Sub))
		}
		p("LOST: %s", strings.Join(shown, "; "))
	}
	if len(r.ExtraSeqs) > 0 {
		var shown []string
		for _, seq := range r.ExtraSeqs[:min(len(r.ExtraSeqs), 20)] {
			shown = append(shown, fmt.Sprintf("#%d (key in %s)", seq, keyForm(seq)))
		}
		p("EXTRA EVENTS for publishes %s", strings.Join(shown, ", "))
	}
	if r.LogPath != "" {
		p("Gancho's log: %s", r.LogPath)
	}
	p("run took %s (publishing %s)", round(r.Elapsed), round(r.PublishFor))
	failed := r.failures()
	p("%d passed, %d failed", 2+len(r.Probes)-failed, failed)
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
