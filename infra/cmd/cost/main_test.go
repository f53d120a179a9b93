package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/bench"
	"github.com/gancho-dev/gancho/infra/costmeter"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestSmoke runs one small scenario through the proxies against the emulators `make
// test` started, so the benchmark cannot rot: every delivery lands first try and
// every side of the bill is counted.
func TestSmoke(t *testing.T) {
	testenv.Config(t)
	root, err := emulators.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m := costmeter.New()
	dp, err := m.Start(costmeter.DynamoDB, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	sp, err := m.Start(costmeter.SQS, os.Getenv("AWS_ENDPOINT_URL_SQS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	st := stack{RepoRoot: root, Meter: m, DynamoURL: dp.URL, SQSURL: sp.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, sc := range []scenario{
		{Subs: 1, Events: 3, PayloadBytes: 512, Concurrency: 2, Timeout: 2 * time.Minute},
		{Subs: 1, Events: 2, PayloadBytes: 512, Concurrency: 1, Timeout: 2 * time.Minute, Quiet: true},
		{Subs: 2, Events: 3, PayloadBytes: 512, Concurrency: 2, Timeout: 2 * time.Minute, Batch: 2},
	} {
		t.Run(fmt.Sprintf("quiet=%v,batch=%d", sc.Quiet, sc.Batch), func(t *testing.T) {
			r, err := run(context.Background(), st, sc)
			if err != nil {
				t.Fatal(err)
			}
			if r.Deliveries != sc.Subs*sc.Events || r.Retries != 0 {
				t.Errorf("%d deliveries, %d retries; want %d first-try deliveries", r.Deliveries, r.Retries, sc.Subs*sc.Events)
			}
			all := r.all().DynamoTotal()
			if all.Calls == 0 || all.WriteUnits == 0 || sqsBilled(r.all()) == 0 {
				t.Errorf("counted %+v and %d SQS requests: want calls, write units and SQS requests", all, sqsBilled(r.all()))
			}
			if !sc.Quiet {
				pub, con := r.Publish.DynamoTotal(), r.Consumer.DynamoTotal()
				if pub.WriteUnits == 0 || con.WriteUnits == 0 || sqsBilled(r.Publish) == 0 || sqsBilled(r.Consumer) == 0 {
					t.Errorf("publish side %+v, consumer side %+v: want both sides counted", pub, con)
				}
			}
			requests := sc.Events
			if sc.Batch > 0 {
				requests = (sc.Events + sc.Batch - 1) / sc.Batch
			}
			if p, c := r.invocations(); p != int64(requests) || c < 1 || c > int64(r.Deliveries) {
				t.Errorf("invocations: %d publish, %d consumer; want %d and 1..%d", p, c, requests, r.Deliveries)
			}
			var out bytes.Buffer
			render(&out, bench.Machine{Date: time.Now()}, []result{r}, lambdaModel{PublishMB: 256, DeliverMB: 512, PublishMs: 40, DeliverMs: 200}, 512)
			for _, want := range []string{"## Cost", "| " + r.label(), "EventBridge", "### Prices used"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestPrice checks the arithmetic from counts to dollars per million deliveries.
func TestPrice(t *testing.T) {
	usage := func(wru, rru float64, sqsBilled, receives, empty int64) costmeter.Usage {
		return costmeter.Usage{
			DynamoDB: map[string]costmeter.DynamoOp{"PutItem": {Calls: 1, WriteUnits: wru, ReadUnits: rru}},
			SQS:      map[string]costmeter.SQSOp{"SendMessageBatch": {Calls: 1, Billed: sqsBilled}, "ReceiveMessage": {Calls: receives, Billed: receives, Empty: empty}},
		}
	}
	l := lambdaModel{PublishMB: 1024, DeliverMB: 512, PublishMs: 100, DeliverMs: 1000}
	tests := []struct {
		name string
		r    result
		want bill
	}{
		{"one subscription", result{Subs: 1, Events: 10, Deliveries: 10,
			Publish: usage(100, 10, 10, 0, 0), Consumer: usage(50, 20, 0, 3, 2)},
			bill{
				DynamoWrites: 150 * 0.625 / 10, DynamoReads: 30 * 0.125 / 10,
				SQS:            (10 + 3 - 2) * 0.40 / 10,
				LambdaRequests: (10 + 1) * 0.20 / 10,
				// 10 publishes of 1 GB × 0.1 s, 1 batch of 0.5 GB × 1 s
				LambdaDuration: (10*0.1 + 0.5) * 13.3334 / 10,
				APIGateway:     1.00,
				EBEvents:       1.00, EBDeliveries: 0.20,
			}},
		{"ten subscriptions", result{Subs: 10, Events: 10, Deliveries: 100}, bill{
			LambdaRequests: 10 * 0.20 / 100, LambdaDuration: 10 * 0.1 * 13.3334 / 100,
			APIGateway: 0.10, EBEvents: 0.10, EBDeliveries: 0.20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.price(l)
			g := []float64{got.DynamoWrites, got.DynamoReads, got.SQS, got.LambdaRequests, got.LambdaDuration, got.APIGateway, got.EBEvents, got.EBDeliveries}
			w := []float64{tc.want.DynamoWrites, tc.want.DynamoReads, tc.want.SQS, tc.want.LambdaRequests, tc.want.LambdaDuration, tc.want.APIGateway, tc.want.EBEvents, tc.want.EBDeliveries}
			for i := range g {
				if math.Abs(g[i]-w[i]) > 1e-9 {
					t.Errorf("price = %+v, want %+v", got, tc.want)
					break
				}
			}
		})
	}
}

// TestEvents aims each run at -deliveries within the event bounds.
func TestEvents(t *testing.T) {
	o := options{deliveries: 1000, minEvents: 3, maxEvents: 100}
	for n, want := range map[int]int{1: 100, 10: 100, 100: 10, 1000: 3} {
		if got := o.events(n); got != want {
			t.Errorf("events(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestPriceString shows prices as the pricing pages do.
func TestPriceString(t *testing.T) {
	for pr, want := range map[price]string{
		priceWRU:       "$0.625 per million write request units",
		priceSQS:       "$0.40 per million requests",
		priceHTTPAPI:   "$1.00 per million requests",
		priceLambdaGBs: "$0.0000133334 per GB-second",
	} {
		if got := pr.String(); got != want {
			t.Errorf("%s: %q, want %q", pr.name, got, want)
		}
	}
}
