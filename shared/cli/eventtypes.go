package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// listFlags are the paging flags every list command has.
type listFlags struct {
	limit  int
	cursor string
	all    bool
}

func (l *listFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&l.limit, "limit", 0, "items per page, 1-100 (default: the API's, 20)")
	cmd.Flags().StringVar(&l.cursor, "cursor", "", "continue a list where the previous page ended")
	cmd.Flags().BoolVar(&l.all, "all", false, "follow the cursor to the end of the list")
}

func (l *listFlags) query() (url.Values, error) {
	q := url.Values{}
	if l.limit != 0 {
		if l.limit < 1 || l.limit > 100 {
			return nil, usagef("--limit must be 1-100, got %d", l.limit)
		}
		q.Set("limit", itoa(l.limit))
	}
	if l.cursor != "" {
		q.Set("cursor", l.cursor)
	}
	return q, nil
}

func (a *app) eventTypesCommand() *cobra.Command {
	var lf listFlags
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the event catalog",
		Example: "  gancho event-types list\n  gancho event-types list --all --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			q, err := lf.query()
			if err != nil {
				return err
			}
			pg, err := c.list(cmd.Context(), "/v1/event-types", q, lf.all)
			if err != nil {
				return err
			}
			return printList(a, pg, []string{"name", "description", "schema", "archived", "updated"}, func(et gancho.EventType) []string {
				schema := "no"
				if len(et.Schema) > 0 && string(et.Schema) != "null" {
					schema = "yes"
				}
				return []string{et.Name, et.Description, schema, yesNo(et.Archived), ts(et.UpdatedAt)}
			})
		},
	}
	lf.add(list)

	var description, schema, schemaFile, retry string
	put := &cobra.Command{
		Use:   "put NAME",
		Short: "Create or replace an event type",
		Long: `put creates an event type, or replaces one (PUT): an omitted description becomes
empty and an omitted schema removes the type's schema.`,
		Example: `  gancho event-types put order.created --description "an order was placed"
  gancho event-types put order.created --schema '{"type":"object","required":["orderId"]}'
  gancho event-types put invoice.paid --schema-file invoice.schema.json --retry-schedule 5,60,600`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"description": description}
			if schema != "" && schemaFile != "" {
				return usagef("give --schema or --schema-file, not both")
			}
			if schemaFile != "" {
				raw, err := os.ReadFile(schemaFile)
				if err != nil {
					return usagef("--schema-file: %v", err)
				}
				schema = string(raw)
			}
			if schema != "" {
				if !json.Valid([]byte(schema)) {
					return usagef("the schema is not valid JSON")
				}
				body["schema"] = json.RawMessage(schema)
			}
			if retry != "" {
				steps, err := parseInts(retry)
				if err != nil {
					return usagef("--retry-schedule: %v", err)
				}
				body["retrySchedule"] = steps
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			raw, status, err := c.do(cmd.Context(), http.MethodPut, "/v1/event-types/"+pathID(args[0]), body, nil)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(raw)
			}
			verb := "Updated"
			if status == http.StatusCreated {
				verb = "Created"
			}
			fmt.Fprintf(a.stdout, "%s event type %s.\n", verb, args[0])
			return nil
		},
	}
	put.Flags().StringVar(&description, "description", "", "what the event means")
	put.Flags().StringVar(&schema, "schema", "", "JSON Schema its payloads must match")
	put.Flags().StringVar(&schemaFile, "schema-file", "", "read the JSON Schema from this file")
	put.Flags().StringVar(&retry, "retry-schedule", "", "seconds before each retry, comma-separated; replaces the subscriptions' schedule for this type")

	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"archive"},
		Short:   "Archive an event type (no new subscriptions or publishes)",
		Example: "  gancho event-types delete order.created",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client("")
			if err != nil {
				return err
			}
			if _, err := c.call(cmd.Context(), http.MethodDelete, "/v1/event-types/"+pathID(args[0]), nil, nil); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"name": args[0], "archived": true})
			}
			fmt.Fprintf(a.stdout, "Archived event type %s.\n", args[0])
			return nil
		},
	}
	return group("event-types", "The event catalog: list, put, delete", []string{"event-type", "types"}, list, put, del)
}

// parseInts reads "5,60,600".
func parseInts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number of seconds", part)
		}
		out = append(out, n)
	}
	return out, nil
}
