package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/metrics"
)

// localStatsPath is where `make run`'s local server serves its counters.
const localStatsPath = "/local/stats"

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "The local server's delivery figures since it started",
		Long: `stats prints what ` + "`make run`" + `'s local server counted since it started: events
published and their fan-out, deliveries, failures by reason, attempts, and
publish-to-delivery latency (the figures a deployed stack writes as CloudWatch
metrics, which its dashboard shows; a deployed API has no such route).`,
		Example: "  gancho stats\n  gancho stats --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, localStatsPath, nil, nil)
			var apiErr *apiError
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
				return fmt.Errorf("%s serves no local stats: only the local server (make run) has them; a deployed stack writes them as CloudWatch metrics: %w", c.base, err)
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			var s metrics.Snapshot
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("GET %s: unexpected answer: %w", localStatsPath, err)
			}
			fmt.Fprintln(a.stdout, s.Summary())
			return nil
		},
	}
}
