package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// timeFlag reads --since/--until: RFC 3339, or a duration back from now ("24h").
func (a *app) timeFlag(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return a.env.Now().Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	return "", usagef("--%s must be an RFC 3339 time (2026-11-29T10:00:00Z) or a duration back from now (24h), got %q", name, v)
}

func (a *app) eventsCommand() *cobra.Command {
	var lf listFlags
	var typ, owner, ref string
	var tr timeRange
	list := &cobra.Command{
		Use:     "list",
		Short:   "List events, newest first",
		Example: "  gancho events list --type order.created --since 24h\n  gancho events list --reference-id ec545a1e --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := lf.query()
			if err != nil {
				return err
			}
			for _, p := range [][2]string{{"type", typ}, {"ownerId", owner}, {"referenceId", ref}} {
				if p[1] != "" {
					q.Set(p[0], p[1])
				}
			}
			if err := tr.apply(a, q); err != nil {
				return err
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			pg, err := c.list(cmd.Context(), "/v1/events", q, lf.all)
			if err != nil {
				return err
			}
			return printList(a, pg, []string{"id", "type", "created", "owner", "subject", "deliveries"}, func(e gancho.Event) []string {
				return []string{e.ID, e.Type, ts(e.CreatedAt), e.OwnerID, e.Subject, itoa(e.DeliveryCount)}
			})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&typ, "type", "", "only this event type")
	list.Flags().StringVar(&owner, "owner", "", "only this ownerId")
	list.Flags().StringVar(&ref, "reference-id", "", "only this reference id")
	tr.add(list, "")

	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show an event with its payload",
		Example: "  gancho events get evt_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			var e gancho.Event
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/events/"+pathID(args[0]), nil, &e)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			ref := ""
			if e.Reference != nil {
				ref = strings.TrimPrefix(e.Reference.Type+":"+e.Reference.ID, ":")
			}
			fields(a.stdout, "id", e.ID, "type", e.Type, "created", ts(e.CreatedAt), "owner", e.OwnerID,
				"context", e.Context, "subject", e.Subject, "reference", ref, "callback url", e.CallbackURL,
				"deliveries", itoa(e.DeliveryCount), "queued", tsp(e.QueuedAt))
			fmt.Fprintln(a.stdout, "data:")
			return writeJSON(a.stdout, e.Payload, true)
		},
	}
	return group("events", "Events: list, get", []string{"event"}, list, get)
}

// timeRange is a command's --since and --until.
type timeRange struct{ since, until string }

// add declares the flags; what says what they select ("deliveries created ").
func (tr *timeRange) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&tr.since, "since", "", what+"from this time (RFC 3339, or a duration back from now: 24h)")
	cmd.Flags().StringVar(&tr.until, "until", "", what+"up to this time")
}

// apply sets since and until in q, as the API takes them.
func (tr timeRange) apply(a *app, q url.Values) error {
	s, err := a.timeFlag("since", tr.since)
	if err != nil {
		return err
	}
	u, err := a.timeFlag("until", tr.until)
	if err != nil {
		return err
	}
	if s != "" {
		q.Set("since", s)
	}
	if u != "" {
		q.Set("until", u)
	}
	return nil
}

func (a *app) deliveriesCommand() *cobra.Command {
	var lf listFlags
	var sub, event, status string
	var tr timeRange
	list := &cobra.Command{
		Use:   "list",
		Short: "List a subscription's or an event's deliveries",
		Example: `  gancho deliveries list --subscription sub_... --status failed --since 24h
  gancho deliveries list --event evt_...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (sub == "") == (event == "") {
				return usagef("give --subscription or --event (one of them)")
			}
			q, err := lf.query()
			if err != nil {
				return err
			}
			path := "/v1/subscriptions/" + pathID(sub) + "/deliveries"
			if event != "" {
				if status != "" || tr.since != "" || tr.until != "" {
					return usagef("--status, --since and --until filter a subscription's deliveries (--subscription)")
				}
				path = "/v1/events/" + pathID(event) + "/deliveries"
			}
			if status != "" {
				q.Set("status", status)
			}
			if err := tr.apply(a, q); err != nil {
				return err
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			pg, err := c.list(cmd.Context(), path, q, lf.all)
			if err != nil {
				return err
			}
			return printList(a, pg, []string{"id", "event", "type", "subscription", "status", "attempts", "last code", "updated"}, func(d gancho.Delivery) []string {
				code := ""
				if n := len(d.Attempts); n > 0 {
					code = statusCode(d.Attempts[n-1].StatusCode)
				}
				return []string{d.ID, d.EventID, d.EventType, d.SubscriptionID, d.Status, itoa(len(d.Attempts)), code, ts(d.UpdatedAt)}
			})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&sub, "subscription", "", "the subscription's deliveries")
	list.Flags().StringVar(&event, "event", "", "the event's deliveries (one per destination)")
	list.Flags().StringVar(&status, "status", "", "pending, retrying, delivered, failed or cancelled")
	tr.add(list, "")

	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show a delivery and every attempt",
		Example: "  gancho deliveries get dlv_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/deliveries/"+pathID(args[0]), nil, nil)
			if err != nil {
				return err
			}
			return a.printDelivery(raw)
		},
	}
	return group("deliveries", "Deliveries and their attempts: list, get", []string{"delivery"}, list, get)
}

func (a *app) printDelivery(raw []byte) error {
	if a.json {
		return a.printJSON(raw)
	}
	var d gancho.Delivery
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("unexpected delivery: %w", err)
	}
	fields(a.stdout, "id", d.ID, "event", d.EventID, "type", d.EventType, "subscription", d.SubscriptionID,
		"owner", d.OwnerID, "status", d.Status, "next attempt", tsp(d.NextAttemptAt),
		"created", ts(d.CreatedAt), "updated", ts(d.UpdatedAt))
	if len(d.Attempts) == 0 {
		fmt.Fprintln(a.stdout, "\nNo attempts yet.")
		return nil
	}
	fmt.Fprintln(a.stdout)
	rows := make([][]string, len(d.Attempts))
	for i, at := range d.Attempts {
		detail := at.Error
		if detail == "" {
			detail = at.Response
		}
		rows[i] = []string{itoa(at.Number), ts(at.At), at.Outcome, statusCode(at.StatusCode), fmt.Sprintf("%dms", at.DurationMs), detail}
	}
	table(a.stdout, []string{"attempt", "at", "outcome", "code", "duration", "response or error"}, rows)
	return nil
}

func (a *app) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry DELIVERY",
		Short: "Make one more attempt of a delivery, now",
		Long: `retry queues one more attempt of a retrying, failed, cancelled or delivered
delivery (a retrying one gets its attempt now instead of at its scheduled time).`,
		Example: "  gancho retry dlv_...",
		Args:    exactArgs("DELIVERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/v1/deliveries/"+pathID(args[0])+"/retry", nil, nil)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			fmt.Fprintf(a.stdout, "Retry of %s queued.\n", args[0])
			return nil
		},
	}
}

// maxRecoverPerCall is how many deliveries one recover call re-queues at most (the
// API's bound); a full answer means there may be more.
const maxRecoverPerCall = 1000

// maxRedrivePerCall is the API's bound on the dead letters one redrive call moves.
const maxRedrivePerCall = 10000

// maxRounds bounds the calls of one recover or redrive run.
const maxRounds = 1000

func (a *app) recoverCommand() *cobra.Command {
	var tr timeRange
	cmd := &cobra.Command{
		Use:   "recover SUBSCRIPTION --since TIME",
		Short: "Re-queue a subscription's failed and cancelled deliveries",
		Long: `recover re-queues the subscription's failed and cancelled deliveries created since
--since (and before --until), calling the API until nothing is left (each call
re-queues at most 1,000), with a running count.`,
		Example: "  gancho recover sub_... --since 24h\n  gancho recover sub_... --since 2026-11-28T00:00:00Z --until 2026-11-29T00:00:00Z",
		Args:    exactArgs("SUBSCRIPTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tr.since == "" {
				return usagef("--since is required")
			}
			q := url.Values{}
			if err := tr.apply(a, q); err != nil {
				return err
			}
			body := map[string]string{"since": q.Get("since")}
			if u := q.Get("until"); u != "" {
				body["until"] = u
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			prog := a.newProgress("re-queued", -1)
			total := 0
			for range maxRounds {
				var out struct {
					Requeued int `json:"requeued"`
				}
				if _, err := c.call(cmd.Context(), http.MethodPost, "/v1/subscriptions/"+pathID(args[0])+"/recover", body, &out); err != nil {
					prog.finish()
					return err
				}
				total += out.Requeued
				prog.add(out.Requeued)
				if out.Requeued < maxRecoverPerCall {
					break
				}
			}
			prog.finish()
			if a.json {
				return a.printJSON(map[string]int{"requeued": total})
			}
			fmt.Fprintf(a.stdout, "re-queued %d\n", total)
			return nil
		},
	}
	tr.add(cmd, "deliveries created ")
	return cmd
}

func (a *app) redriveCommand() *cobra.Command {
	var adminKey string
	cmd := &cobra.Command{
		Use:   "redrive",
		Short: "Move the dead-letter queue back to delivery (operator key)",
		Long: `redrive moves the deliveries in the dead-letter queue back to delivery, calling
the API until the queue is drained, with a running count. It needs the platform
operator's key: --admin-key, or GANCHO_ADMIN_KEY.`,
		Example: "  GANCHO_ADMIN_KEY=gk_admin_... gancho redrive",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adminKey == "" {
				adminKey = a.env.Getenv("GANCHO_ADMIN_KEY")
			}
			c, err := a.client(adminKey)
			if err != nil {
				return err
			}
			prog := a.newProgress("moved", -1)
			moved, skipped := 0, 0
			for range maxRounds {
				var out struct {
					Moved   int `json:"moved"`
					Skipped int `json:"skipped"`
				}
				if _, err := c.call(cmd.Context(), http.MethodPost, "/v1/dead-letters/redrive", nil, &out); err != nil {
					prog.finish()
					return err
				}
				moved += out.Moved
				skipped = out.Skipped
				prog.add(out.Moved)
				if out.Moved < maxRedrivePerCall {
					break
				}
			}
			prog.finish()
			if a.json {
				return a.printJSON(map[string]int{"moved": moved, "skipped": skipped})
			}
			fmt.Fprintf(a.stdout, "moved %d, skipped %d (not deliveries, left in the queue)\n", moved, skipped)
			return nil
		},
	}
	cmd.Flags().StringVar(&adminKey, "admin-key", "", "the operator key (default: GANCHO_ADMIN_KEY)")
	return cmd
}
