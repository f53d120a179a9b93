package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// subFlags are the fields create takes as flags; -f gives the whole body.
type subFlags struct {
	url, name, description, method, owner, context, format, mode, file string
	sqsQueue, snsTopic, role                                           string
	events, headers                                                    []string
	timeout                                                            int
	retry                                                              string
	ordered, inactive                                                  bool
}

func (f *subFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "where deliveries go (required unless in -f, or a queue or topic is given)")
	fl.StringVar(&f.sqsQueue, "sqs-queue-url", "", "deliver to this SQS queue instead of a URL")
	fl.StringVar(&f.snsTopic, "sns-topic-arn", "", "deliver to this SNS topic instead of a URL")
	fl.StringVar(&f.role, "role-arn", "", "with a queue or topic in another AWS account: the role there to assume")
	fl.StringSliceVar(&f.events, "events", nil, "event types, comma-separated or repeated; 'crm.*' matches a prefix (default: every type)")
	fl.StringVar(&f.name, "name", "", "a name (default: the URL's host)")
	fl.StringVar(&f.description, "description", "", "why it exists")
	fl.StringVar(&f.method, "method", "", "POST (default), PUT, PATCH, GET or DELETE")
	fl.StringVar(&f.owner, "owner", "", "only events of this ownerId (and broadcasts)")
	fl.StringVar(&f.context, "context", "", "only events of this context")
	fl.StringArrayVar(&f.headers, "header", nil, "a custom header Name=value (repeatable)")
	fl.StringVar(&f.format, "format", "", "envelope (default) or raw")
	fl.StringVar(&f.mode, "mode", "", "push (default) or notify")
	fl.IntVar(&f.timeout, "timeout", 0, "seconds to wait for the receiver, 1-30 (default 15)")
	fl.StringVar(&f.retry, "retry-schedule", "", "seconds before each retry, comma-separated")
	fl.BoolVar(&f.ordered, "ordered", false, "keep publish order per reference id")
	fl.BoolVar(&f.inactive, "inactive", false, "create it disabled")
	fl.StringVarP(&f.file, "file", "f", "", "read the subscription's JSON from this file ('-': standard input); flags override it")
}

// body merges the flags over the file's JSON.
func (f *subFlags) body(cmd *cobra.Command, stdin io.Reader) (map[string]any, error) {
	body := map[string]any{}
	if f.file != "" {
		raw, err := readArgFile(f.file, stdin)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, usagef("-f %s: not a JSON object: %v", f.file, err)
		}
	}
	set := func(flag, field string, v any) {
		if cmd.Flags().Changed(flag) {
			body[field] = v
		}
	}
	set("url", "url", f.url)
	set("events", "events", f.events)
	set("name", "name", f.name)
	set("description", "description", f.description)
	set("method", "method", f.method)
	set("owner", "ownerId", f.owner)
	set("context", "context", f.context)
	set("format", "format", f.format)
	set("mode", "mode", f.mode)
	set("timeout", "timeoutSeconds", f.timeout)
	set("ordered", "ordered", f.ordered)
	if f.inactive {
		body["isActive"] = false
	}
	if f.retry != "" {
		steps, err := parseInts(f.retry)
		if err != nil {
			return nil, usagef("--retry-schedule: %v", err)
		}
		body["retrySchedule"] = steps
	}
	if len(f.headers) > 0 {
		h := map[string]any{}
		if old, ok := body["headers"].(map[string]any); ok {
			h = old
		}
		for _, kv := range f.headers {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--header wants Name=value, got %q", kv)
			}
			h[strings.TrimSpace(k)] = v
		}
		body["headers"] = h
	}
	switch {
	case f.sqsQueue != "" && f.snsTopic != "":
		return nil, usagef("--sqs-queue-url and --sns-topic-arn are exclusive: a subscription has one destination")
	case f.sqsQueue != "":
		body["destination"] = map[string]any{"type": gancho.DestinationSQS, "queueUrl": f.sqsQueue, "roleArn": f.role}
	case f.snsTopic != "":
		body["destination"] = map[string]any{"type": gancho.DestinationSNS, "topicArn": f.snsTopic, "roleArn": f.role}
	case f.role != "":
		return nil, usagef("--role-arn goes with --sqs-queue-url or --sns-topic-arn")
	}
	_, hasURL := body["url"]
	_, hasDest := body["destination"]
	if !hasURL && !hasDest {
		return nil, usagef("--url, --sqs-queue-url or --sns-topic-arn is required (or a \"url\" or \"destination\" in -f)")
	}
	return body, nil
}

// readArgFile reads a file named on the command line; "-" is standard input.
func readArgFile(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		raw, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return raw, nil
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return raw, nil
}

// target is where a subscription's deliveries go: "POST https://...", "sqs <queue URL>"
// or "sns <topic ARN>", and the role assumed for them.
func target(s gancho.Subscription) string {
	var out string
	switch d := s.Destination; d.Type {
	case gancho.DestinationSQS:
		out = "sqs " + d.QueueURL
	case gancho.DestinationSNS:
		out = "sns " + d.TopicARN
	default:
		return s.Method + " " + s.URL
	}
	if s.Destination.RoleARN != "" {
		out += " as " + s.Destination.RoleARN
	}
	return out
}

func (a *app) printSubscription(raw []byte) error {
	if a.json {
		return a.printJSON(raw)
	}
	var s gancho.Subscription
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("unexpected subscription: %w", err)
	}
	fields(a.stdout,
		"id", s.ID, "name", s.Name, "description", s.Description, "destination", target(s),
		"events", strings.Join(s.Events, ", "), "owner", s.OwnerID, "context", s.Context,
		"format", s.Format, "mode", s.Mode, "active", yesNo(s.IsActive),
		"timeout", fmt.Sprintf("%ds", s.TimeoutSeconds), "retry schedule", joinInts(s.RetrySchedule),
		"ordered", yesNo(s.Ordered), "secret", s.Secret,
		"created", ts(s.CreatedAt), "updated", ts(s.UpdatedAt),
		"last status", statusCode(s.LastStatusCode), "last attempt", tsp(s.LastAttemptAt),
		"last success", tsp(s.LastSuccessAt), "failures in a row", itoa(s.ConsecutiveFailures),
		"failing since", tsp(s.FailingSince), "disabled because", s.DisabledReason,
	)
	if s.Secret != "" {
		fmt.Fprintln(a.stderr, "The secret is shown once: keep it to verify signatures ('gancho subscriptions secret ID' reads it again).")
	}
	return nil
}

func statusCode(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (a *app) subscriptionsCommand() *cobra.Command {
	var cf subFlags
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a subscription (prints its secret once)",
		Example: `  gancho subscriptions create --url https://example.com/hooks --events 'order.*'
  gancho subscriptions create --url https://crm.example/:id --events crm.lead.created --owner office-42 --header X-Tenant=acme
  gancho subscriptions create -f subscription.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := cf.body(cmd, a.stdin)
			if err != nil {
				return err
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/v1/subscriptions", body, nil)
			if err != nil {
				return err
			}
			return a.printSubscription(raw)
		},
	}
	cf.add(create)

	var lf listFlags
	var event, owner, active string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List subscriptions, newest first",
		Example: "  gancho subscriptions list\n  gancho subscriptions list --event order.created --active false --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := lf.query()
			if err != nil {
				return err
			}
			if event != "" {
				q.Set("event", event)
			}
			if owner != "" {
				q.Set("ownerId", owner)
			}
			if active != "" {
				b, err := strconv.ParseBool(active)
				if err != nil {
					return usagef("--active must be true or false, got %q", active)
				}
				q.Set("isActive", strconv.FormatBool(b))
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			pg, err := c.list(cmd.Context(), "/v1/subscriptions", q, lf.all)
			if err != nil {
				return err
			}
			return printList(a, pg, []string{"id", "name", "destination", "events", "active", "last status", "failures"}, func(s gancho.Subscription) []string {
				return []string{s.ID, s.Name, target(s), strings.Join(s.Events, ","), yesNo(s.IsActive), statusCode(s.LastStatusCode), itoa(s.ConsecutiveFailures)}
			})
		},
	}
	lf.add(list)
	list.Flags().StringVar(&event, "event", "", "only subscriptions that receive this event type")
	list.Flags().StringVar(&owner, "owner", "", "only this ownerId's subscriptions")
	list.Flags().StringVar(&active, "active", "", "true or false")

	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show a subscription and its status block",
		Example: "  gancho subscriptions get sub_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/subscriptions/"+pathID(args[0]), nil, nil)
			if err != nil {
				return err
			}
			return a.printSubscription(raw)
		},
	}

	var sets []string
	var patch, patchFile string
	update := &cobra.Command{
		Use:   "update ID",
		Short: "Change a subscription (JSON merge patch)",
		Long: `update sends a JSON merge patch (RFC 7396): from --patch, from a file (-f, '-' for
standard input), and from --set field=value pairs applied over it. A value that is
valid JSON is sent as JSON (true, 5, ["a","b"], null), anything else as a string;
a dotted field sets a nested one (auth.type=static).`,
		Example: `  gancho subscriptions update sub_... --set isActive=false
  gancho subscriptions update sub_... --set 'events=["order.*"]' --set timeoutSeconds=5
  gancho subscriptions update sub_... --patch '{"headers": {"X-Team": "billing"}}'
  gancho subscriptions update sub_... -f patch.json`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := mergePatch(patch, patchFile, sets, a.stdin)
			if err != nil {
				return err
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodPatch, "/v1/subscriptions/"+pathID(args[0]), body, nil)
			if err != nil {
				return err
			}
			return a.printSubscription(raw)
		},
	}
	update.Flags().StringArrayVar(&sets, "set", nil, "field=value to change (repeatable)")
	update.Flags().StringVar(&patch, "patch", "", "a JSON merge patch")
	update.Flags().StringVarP(&patchFile, "file", "f", "", "read the JSON merge patch from this file ('-': standard input)")

	del := &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a subscription (its queued deliveries end cancelled)",
		Example: "  gancho subscriptions delete sub_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			if _, err := c.call(cmd.Context(), http.MethodDelete, "/v1/subscriptions/"+pathID(args[0]), nil, nil); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"id": args[0], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "Deleted subscription %s.\n", args[0])
			return nil
		},
	}

	var subject string
	test := &cobra.Command{
		Use:     "test ID",
		Short:   "Send a webhook.test event to this subscription only",
		Example: "  gancho subscriptions test sub_...\n  gancho subscriptions test sub_... --subject order-42",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if subject != "" {
				body = map[string]string{"subject": subject}
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			var out struct {
				EventID    string `json:"eventId"`
				DeliveryID string `json:"deliveryId"`
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/v1/subscriptions/"+pathID(args[0])+"/test", body, &out)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			fmt.Fprintf(a.stdout, "Sent test event %s: delivery %s.\n", out.EventID, out.DeliveryID)
			fmt.Fprintf(a.stdout, "Follow it with: gancho deliveries get %s\n", out.DeliveryID)
			return nil
		},
	}
	test.Flags().StringVar(&subject, "subject", "", "fills :id in the URL (default: test)")

	rotate := &cobra.Command{
		Use:     "rotate ID",
		Short:   "Replace the signing secret (the old one also signs for 24 h)",
		Example: "  gancho subscriptions rotate sub_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			var out struct {
				Secret             string `json:"secret"`
				PreviousValidUntil string `json:"previousValidUntil"`
				PublicKey          string `json:"publicKey"`
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/v1/subscriptions/"+pathID(args[0])+"/secret/rotate", nil, &out)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			fields(a.stdout, "secret", out.Secret, "public key", out.PublicKey, "previous valid until", out.PreviousValidUntil)
			return nil
		},
	}

	secret := &cobra.Command{
		Use:     "secret ID",
		Short:   "Show the signing secret",
		Example: "  gancho subscriptions secret sub_...",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			var out map[string]any
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/subscriptions/"+pathID(args[0])+"/secret", nil, &out)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			for _, k := range []string{"secret", "publicKey"} {
				if v, ok := out[k].(string); ok && v != "" {
					fmt.Fprintln(a.stdout, v)
				}
			}
			return nil
		},
	}
	return group("subscriptions", "Subscriptions: create, list, get, update, delete, test, rotate, secret", []string{"subscription", "subs"},
		create, list, get, update, del, test, rotate, secret)
}

// mergePatch builds a JSON merge patch from --patch or -f, then --set pairs over it.
func mergePatch(patch, file string, sets []string, stdin io.Reader) (map[string]any, error) {
	body := map[string]any{}
	if patch != "" && file != "" {
		return nil, usagef("give --patch or -f, not both")
	}
	src := []byte(patch)
	if file != "" {
		var err error
		if src, err = readArgFile(file, stdin); err != nil {
			return nil, err
		}
	}
	if len(src) > 0 {
		if err := json.Unmarshal(src, &body); err != nil || body == nil {
			return nil, usagef("the merge patch must be a JSON object")
		}
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--set wants field=value, got %q", kv)
		}
		var val any = v
		var decoded any
		if err := json.Unmarshal([]byte(v), &decoded); err == nil {
			val = decoded
		}
		m := body
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
	if len(body) == 0 {
		return nil, usagef("nothing to change: give --set, --patch or -f")
	}
	return body, nil
}
