package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

// signatureTolerance is how far a webhook-timestamp may be from now, as the
// Standard Webhooks libraries allow.
const signatureTolerance = 5 * time.Minute

// maxListenBody bounds a delivery's body the listener reads.
const maxListenBody = 2 << 20

func (a *app) listenCommand() *cobra.Command {
	var events []string
	var forwardTo, owner string
	var port int
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive deliveries on this machine through a temporary subscription",
		Long: `listen starts a receiver on 127.0.0.1 (--port, default a free one), creates a
subscription whose URL points to it, and prints each delivery as it arrives: time,
event type, event and delivery ids, the attempt, whether its webhook-signature
verifies against the subscription's secret (✓ or ✗), and the status answered.
With --forward-to each delivery is also sent on, headers and body unchanged, to
a local URL, and its answer is what Gancho gets; otherwise the answer is 200.
Ctrl-C deletes the subscription and stops.

The API must be able to reach this machine's loopback interface, as the local
stack ('make run') can.`,
		Example: `  gancho listen
  gancho listen --events 'order.*' --forward-to http://127.0.0.1:3000/webhooks
  gancho listen --port 4000 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port must be 0-65535, got %d", port)
			}
			if forwardTo != "" {
				u, err := url.Parse(forwardTo)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usagef("--forward-to must be an absolute http(s) URL, got %q", forwardTo)
				}
			}
			c, err := a.client("")
			if err != nil {
				return err
			}
			return a.listen(cmd.Context(), c, listenOptions{events: events, owner: owner, forwardTo: forwardTo, port: port})
		},
	}
	cmd.Flags().StringSliceVar(&events, "events", nil, "event types to receive, comma-separated or repeated (default: every type)")
	cmd.Flags().StringVar(&owner, "owner", "", "only events of this ownerId (and broadcasts)")
	cmd.Flags().StringVar(&forwardTo, "forward-to", "", "also send each delivery to this URL, e.g. http://127.0.0.1:3000/webhooks")
	cmd.Flags().IntVar(&port, "port", 0, "the receiver's port on 127.0.0.1 (default: a free one)")
	return cmd
}

type listenOptions struct {
	events    []string
	owner     string
	forwardTo string
	port      int
}

// received is one delivery as listen prints it with --json.
type received struct {
	ReceivedAt     time.Time       `json:"receivedAt"`
	DeliveryID     string          `json:"deliveryId"`
	EventID        string          `json:"eventId"`
	Type           string          `json:"type,omitempty"`
	Attempt        int             `json:"attempt,omitempty"`
	SignatureValid bool            `json:"signatureValid"`
	SignatureError string          `json:"signatureError,omitempty"`
	Status         int             `json:"status"`
	ForwardError   string          `json:"forwardError,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

func (a *app) listen(ctx context.Context, c *client, o listenOptions) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", o.port, err)
	}
	defer ln.Close()
	target := "http://" + ln.Addr().String() + "/"
	body := map[string]any{"url": target, "name": "gancho listen",
		"description": "temporary: gancho listen deletes it when it stops"}
	if len(o.events) > 0 {
		body["events"] = o.events
	}
	if o.owner != "" {
		body["ownerId"] = o.owner
	}
	var sub gancho.Subscription
	if _, err := c.call(ctx, http.MethodPost, "/v1/subscriptions", body, &sub); err != nil {
		return fmt.Errorf("create the subscription: %w", err)
	}
	// The subscription outlives nothing: whatever happens next, it is deleted.
	deleteSub := func() error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := c.call(dctx, http.MethodDelete, "/v1/subscriptions/"+pathID(sub.ID), nil, nil)
		if err != nil && !isAPIStatus(err, http.StatusNotFound) {
			return fmt.Errorf("delete subscription %s: %w", sub.ID, err)
		}
		fmt.Fprintf(a.stderr, "Deleted subscription %s.\n", sub.ID)
		return nil
	}
	key, err := signature.ParseSecret(sub.Secret)
	if err != nil {
		return errors.Join(fmt.Errorf("the subscription's secret: %w", err), deleteSub())
	}

	var mu sync.Mutex // one delivery's line at a time
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, maxListenBody))
		rec := received{ReceivedAt: a.env.Now().UTC(), DeliveryID: r.Header.Get("webhook-id"), EventID: r.Header.Get("X-Gancho-Event")}
		rec.Attempt, _ = strconv.Atoi(r.Header.Get("X-Gancho-Attempt"))
		var env struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &env) == nil {
			rec.Type = env.Type
		}
		if json.Valid(raw) {
			rec.Body = raw
		}
		rec.SignatureValid, rec.SignatureError = verify(key, r.Header, raw, a.env.Now())
		rec.Status = http.StatusOK
		if o.forwardTo != "" {
			rec.Status, rec.ForwardError = a.forward(r.Context(), o.forwardTo, r, raw)
		}
		w.WriteHeader(rec.Status)
		mu.Lock()
		defer mu.Unlock()
		if a.json {
			_ = writeJSON(a.stdout, rec, false)
			return
		}
		mark := "✓ signature"
		if !rec.SignatureValid {
			mark = "✗ signature (" + rec.SignatureError + ")"
		}
		typ := rec.Type
		if typ == "" {
			typ = "-"
		}
		fmt.Fprintf(a.stdout, "%s  %s  %s  %s  attempt %d  %s  → %d\n",
			rec.ReceivedAt.Format(time.RFC3339), typ, rec.EventID, rec.DeliveryID, rec.Attempt, mark, rec.Status)
		if rec.ForwardError != "" {
			fmt.Fprintf(a.stderr, "  forward to %s: %s\n", o.forwardTo, rec.ForwardError)
		}
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	events := "every event type"
	if len(o.events) > 0 {
		events = strings.Join(o.events, ", ")
	}
	fmt.Fprintf(a.stderr, "Ready: subscription %s receives %s at %s", sub.ID, events, target)
	if o.forwardTo != "" {
		fmt.Fprintf(a.stderr, ", forwarded to %s", o.forwardTo)
	}
	fmt.Fprintln(a.stderr, ". Ctrl-C stops and deletes it.")

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, deleteSub())
}

// verify checks a delivery's Standard Webhooks signature with the subscription's key.
func verify(key signature.Key, h http.Header, body []byte, now time.Time) (bool, string) {
	id, tsv, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsv == "" || sigs == "" {
		return false, "missing webhook-id, webhook-timestamp or webhook-signature"
	}
	ts, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return false, "webhook-timestamp is not a number"
	}
	if d := now.Sub(time.Unix(ts, 0)); d > signatureTolerance || d < -signatureTolerance {
		return false, "webhook-timestamp is more than 5 minutes off"
	}
	want := []byte(key.Sign(id, ts, body))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), want) {
			return true, ""
		}
	}
	return false, "no signature matches the subscription's secret"
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1).
var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true, "Content-Length": true}

// forward sends the delivery on to target and returns the status it answered.
func (a *app) forward(ctx context.Context, target string, r *http.Request, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, err.Error()
	}
	for k, vs := range r.Header {
		if !hopHeaders[k] {
			req.Header[k] = vs
		}
	}
	resp, err := a.env.HTTPClient.Do(req)
	if err != nil {
		return http.StatusBadGateway, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxListenBody))
	return resp.StatusCode, ""
}
