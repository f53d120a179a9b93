package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long command got: a bar when standard error is a
// terminal, else a plain count line per step, so logs of scripted runs stay readable.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	what  string
	total int64
	done  int64
}

// newProgress starts a progress display of total steps (-1: unknown).
func (a *app) newProgress(what string, total int64) *progress {
	p := &progress{w: a.stderr, what: what, total: total}
	if a.env.Terminal(a.stderr) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// add records n more steps done.
func (p *progress) add(n int) {
	p.done += int64(n)
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s: %d/%d\n", p.what, p.done, p.total)
	} else {
		fmt.Fprintf(p.w, "%s: %d\n", p.what, p.done)
	}
}

// finish removes the bar; the command prints its own summary.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
