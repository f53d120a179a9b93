package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/infra/benchdoc"
	"github.com/gancho-dev/gancho/infra/costmeter"
)

// price is one public on-demand price, us-east-1, in dollars per unit.
type price struct {
	name   string
	dollar float64
	unit   string
	source string
}

// Public on-demand prices, US East (N. Virginia), read from AWS's pricing pages
// (DynamoDB's on-demand prices are those after the cut of 1 November 2024).
var (
	priceWRU        = price{"DynamoDB on-demand write request unit", 0.625e-6, "write request unit", "aws.amazon.com/dynamodb/pricing/on-demand/"}
	priceRRU        = price{"DynamoDB on-demand read request unit", 0.125e-6, "read request unit", "aws.amazon.com/dynamodb/pricing/on-demand/"}
	priceSQS        = price{"SQS standard queue request (64 KiB chunk)", 0.40e-6, "request", "aws.amazon.com/sqs/pricing/"}
	priceLambdaReq  = price{"Lambda request", 0.20e-6, "request", "aws.amazon.com/lambda/pricing/"}
	priceLambdaGBs  = price{"Lambda duration, Arm", 0.0000133334, "GB-s", "aws.amazon.com/lambda/pricing/"}
	priceHTTPAPI    = price{"API Gateway HTTP API request (first 300 M/month, 512 KB steps)", 1.00e-6, "request", "aws.amazon.com/api-gateway/pricing/"}
	priceEBEvent    = price{"EventBridge custom event published (64 KB chunk)", 1.00e-6, "event", "aws.amazon.com/eventbridge/pricing/"}
	priceEBDelivery = price{"EventBridge API destination invocation", 0.20e-6, "invocation", "aws.amazon.com/eventbridge/pricing/"}
	allPrices       = []price{priceWRU, priceRRU, priceSQS, priceLambdaReq, priceLambdaGBs, priceHTTPAPI, priceEBEvent, priceEBDelivery}
)

// lambdaModel is what the counts at the wire cannot show: the functions' memory
// (template.yaml) and billed duration (stated, not measured on AWS).
type lambdaModel struct {
	PublishMB, DeliverMB int
	PublishMs, DeliverMs float64
}

// bill is the dollars per million first-try deliveries of one result, by line.
type bill struct {
	DynamoWrites, DynamoReads, SQS, LambdaRequests, LambdaDuration, APIGateway float64
	EBEvents, EBDeliveries                                                     float64
}

func (b bill) gancho() float64 {
	return b.DynamoWrites + b.DynamoReads + b.SQS + b.LambdaRequests + b.LambdaDuration + b.APIGateway
}

func (b bill) eventBridge() float64 { return b.EBEvents + b.EBDeliveries }

// invocations counts Lambda invocations: one publish-event invocation per publish
// (one HTTP API request each) and one consumer invocation per batch the event source
// mapping hands over, which is each ReceiveMessage that returned messages.
func (r result) invocations() (publish, consumer int64) {
	all := r.all()
	rcv := all.SQS["ReceiveMessage"]
	return int64(r.Events), rcv.Calls - rcv.Empty
}

// all is both sides together.
func (r result) all() costmeter.Usage { return r.Publish.Add(r.Consumer) }

// sqsBilled is the billed SQS requests, less empty receives (the pollers' fixed cost).
func sqsBilled(u costmeter.Usage) int64 {
	t := u.SQSTotal()
	return t.Billed - t.Empty
}

// price turns a result into dollars per million first-try deliveries.
func (r result) price(l lambdaModel) bill {
	if r.Deliveries == 0 {
		return bill{}
	}
	per := 1e6 / float64(r.Deliveries)
	all := r.all()
	d := all.DynamoTotal()
	pub, con := r.invocations()
	gbs := float64(pub)*float64(l.PublishMB)/1024*l.PublishMs/1000 + float64(con)*float64(l.DeliverMB)/1024*l.DeliverMs/1000
	return bill{
		DynamoWrites:   d.WriteUnits * priceWRU.dollar * per,
		DynamoReads:    d.ReadUnits * priceRRU.dollar * per,
		SQS:            float64(sqsBilled(all)) * priceSQS.dollar * per,
		LambdaRequests: float64(pub+con) * priceLambdaReq.dollar * per,
		LambdaDuration: gbs * priceLambdaGBs.dollar * per,
		APIGateway:     float64(r.Events) * priceHTTPAPI.dollar * per,
		// The same traffic on EventBridge: each event put once on a custom bus (one
		// 64 KB chunk), one API destination invocation per subscription it matches.
		EBEvents:     float64(r.Events) * priceEBEvent.dollar * per,
		EBDeliveries: float64(r.Deliveries) * priceEBDelivery.dollar * per,
	}
}

// machine describes where the figures were taken.
type machine = benchdoc.Machine

// render writes the Cost section as Markdown.
func render(w io.Writer, m machine, all []result, l lambdaModel, payloadBytes int) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	var rs, quiet []result
	for _, r := range all {
		if r.Quiet {
			quiet = append(quiet, r)
		} else {
			rs = append(rs, r)
		}
	}
	p("## Cost\n\n")
	p("What one publish and one first-try delivery ask of AWS, counted at the wire by a proxy in front of\n")
	p("DynamoDB Local and the SQS emulator (`infra/costmeter`), and what that costs per million deliveries at\n")
	p("AWS's public on-demand prices, us-east-1, arm64, next to EventBridge API destinations for the same traffic.\n")
	p("Taken %s on %d CPUs (%s), %s memory, commit %s, with `%s`.\n\n", m.Date.Format("2006-01-02"), m.CPUs, m.CPU, m.Memory, m.Commit, m.Command)
	p("Each run: N subscriptions matching every event, one receiver answering 200, payloads of %d bytes,\n", payloadBytes)
	p("one warm-up event (caches and connections warm, as on a busy function), then the events published with the\n")
	p("consumer stopped (the publish side), then the consumer started until every delivery landed (the consumer side:\n")
	p("fan-out past the inline limit of 50, the sends and their records). Read and write units are DynamoDB Local's,\n")
	p("table and secondary-index copies together (checked against DynamoDB's arithmetic in `infra/costmeter`).\n\n")

	header := func(first string) {
		p("| %s |", first)
		for _, r := range rs {
			p(" %s |", subsLabel(r.Subs))
		}
		p("\n|---|")
		for range rs {
			p("---:|")
		}
		p("\n")
	}
	row := func(name string, f func(r result) string) {
		p("| %s |", name)
		for _, r := range rs {
			p(" %s |", f(r))
		}
		p("\n")
	}
	perPub := func(r result, v float64) float64 { return v / float64(max(r.Events, 1)) }
	perDel := func(r result, v float64) float64 { return v / float64(max(r.Deliveries, 1)) }

	p("### Per publish and per first-try delivery\n\n")
	header("")
	row("events published / deliveries", func(r result) string { return fmt.Sprintf("%d / %d", r.Events, r.Deliveries) })
	row("retries (expected 0)", func(r result) string { return fmt.Sprint(r.Retries) })
	row("DynamoDB calls per publish (publish side)", func(r result) string { return f2(perPub(r, float64(r.Publish.DynamoTotal().Calls))) })
	row("of which strongly consistent reads", func(r result) string {
		return f2(perPub(r, float64(r.Publish.DynamoTotal().ConsistentReads)))
	})
	row("read / write units per publish", func(r result) string {
		t := r.Publish.DynamoTotal()
		return f2(perPub(r, t.ReadUnits)) + " / " + f2(perPub(r, t.WriteUnits))
	})
	row("SQS requests per publish", func(r result) string { return f2(perPub(r, float64(sqsBilled(r.Publish)))) })
	row("DynamoDB calls per delivery (consumer side)", func(r result) string { return f2(perDel(r, float64(r.Consumer.DynamoTotal().Calls))) })
	row("read / write units per delivery (consumer side)", func(r result) string {
		t := r.Consumer.DynamoTotal()
		return f2(perDel(r, t.ReadUnits)) + " / " + f2(perDel(r, t.WriteUnits))
	})
	row("SQS requests per delivery (consumer side)", func(r result) string { return f2(perDel(r, float64(sqsBilled(r.Consumer)))) })
	row("**all-in per delivery**: DynamoDB calls", func(r result) string { return f2(perDel(r, float64(r.all().DynamoTotal().Calls))) })
	row("**all-in**: read units", func(r result) string { return f2(perDel(r, r.all().DynamoTotal().ReadUnits)) })
	row("**all-in**: write units (of which index copies)", func(r result) string {
		t := r.all().DynamoTotal()
		return f2(perDel(r, t.WriteUnits)) + " (" + f2(perDel(r, t.IndexWriteUnits)) + ")"
	})
	row("**all-in**: SQS requests", func(r result) string { return f2(perDel(r, float64(sqsBilled(r.all())))) })
	row("**all-in**: Lambda invocations", func(r result) string {
		pub, con := r.invocations()
		return f2(perDel(r, float64(pub+con)))
	})
	row("messages per consumer batch", func(r result) string {
		rcv := r.all().SQS["ReceiveMessage"]
		return f2(float64(rcv.Messages) / float64(max(rcv.Calls-rcv.Empty, 1)))
	})
	row("DynamoDB errors (conditional failures)", func(r result) string {
		t := r.all().DynamoTotal()
		return fmt.Sprintf("%d (%d)", t.Errors, t.ConditionalFailures)
	})
	row("mean publish latency, local emulators", func(r result) string { return r.PublishLatency.Round(100 * time.Microsecond).String() })
	p("\n")

	p("### DynamoDB and SQS calls by operation\n\n")
	p("Calls per publish on the publish side, per delivery on the consumer side; read / write units in brackets.\n")
	p("SQS: billed requests (empty receives, the pollers' fixed cost, left out).\n\n")
	header("operation")
	for _, side := range []struct {
		name string
		get  func(result) costmeter.Usage
		per  func(result, float64) float64
	}{{"publish", func(r result) costmeter.Usage { return r.Publish }, perPub}, {"consumer", func(r result) costmeter.Usage { return r.Consumer }, perDel}} {
		seen := map[string]bool{}
		var ops []string
		for _, r := range rs {
			for _, op := range side.get(r).DynamoOps() {
				if !seen[op] {
					seen[op] = true
					ops = append(ops, op)
				}
			}
		}
		for _, op := range ops {
			row(side.name+": "+op, func(r result) string {
				v, ok := side.get(r).DynamoDB[op]
				if !ok {
					return "–"
				}
				s := f2(side.per(r, float64(v.Calls))) + " (" + f2(side.per(r, v.ReadUnits)) + " / " + f2(side.per(r, v.WriteUnits)) + ")"
				if v.ConsistentReads > 0 && v.ConsistentReads == v.Calls {
					s += " strong"
				}
				return s
			})
		}
		seen = map[string]bool{}
		ops = ops[:0]
		for _, r := range rs {
			for _, op := range side.get(r).SQSOps() {
				if !seen[op] {
					seen[op] = true
					ops = append(ops, op)
				}
			}
		}
		for _, op := range ops {
			row(side.name+": SQS "+op, func(r result) string {
				v, ok := side.get(r).SQS[op]
				if !ok || v.Billed-v.Empty == 0 {
					return "–"
				}
				return f2(side.per(r, float64(v.Billed-v.Empty)))
			})
		}
	}
	p("\n")

	p("### Dollars per million first-try deliveries\n\n")
	p("Lambda: publish-event %d MB for %.0f ms a publish, deliver %d MB for %.0f ms a batch (memory from template.yaml;\n",
		l.PublishMB, l.PublishMs, l.DeliverMB, l.DeliverMs)
	p("durations stated, not measured on AWS: a batch's sends run concurrently, so one slow receiver sets the batch's time).\n")
	p("Consumer invocations are the batches the consumer got: it starts on a backlog, so batches are as full as\n")
	p("template.yaml's BatchSize of 10 allows (the busy case; a quiet queue hands over smaller batches and costs more).\n")
	p("Left out: storage, data transfer, CloudWatch Logs, the sweeper's schedule and the pollers' empty receives.\n\n")
	header("")
	bills := make([]bill, len(rs))
	for i, r := range rs {
		bills[i] = r.price(l)
	}
	line := func(name string, f func(b bill) float64) {
		p("| %s |", name)
		for _, b := range bills {
			p(" %s |", money(f(b)))
		}
		p("\n")
	}
	line("DynamoDB writes", func(b bill) float64 { return b.DynamoWrites })
	line("DynamoDB reads", func(b bill) float64 { return b.DynamoReads })
	line("SQS", func(b bill) float64 { return b.SQS })
	line("Lambda requests", func(b bill) float64 { return b.LambdaRequests })
	line("Lambda duration", func(b bill) float64 { return b.LambdaDuration })
	line("API Gateway HTTP API", func(b bill) float64 { return b.APIGateway })
	line("**Gancho, all-in**", func(b bill) float64 { return b.gancho() })
	line("EventBridge custom events", func(b bill) float64 { return b.EBEvents })
	line("EventBridge API destinations", func(b bill) float64 { return b.EBDeliveries })
	line("**EventBridge API destinations, all-in**", func(b bill) float64 { return b.eventBridge() })
	p("\n")

	if len(quiet) > 0 {
		p("### A quiet queue\n\n")
		p("The same, all-in per delivery, with each event published once the previous one's deliveries landed and\n")
		p("the consumer running: it gets batches of about one event's deliveries, so what it does once a batch\n")
		p("(read the batch's records, update once per batch) is shared by fewer deliveries.\n\n")
		p("| quiet queue | DynamoDB calls | read units | write units (index copies) | SQS requests | Lambda invocations | messages per batch | Gancho $/M | EventBridge $/M |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range quiet {
			perDel := func(v float64) string { return f2(v / float64(max(r.Deliveries, 1))) }
			t := r.all().DynamoTotal()
			pub, con := r.invocations()
			rcv := r.all().SQS["ReceiveMessage"]
			b := r.price(l)
			p("| %s, %d events | %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n", subsLabel(r.Subs), r.Events,
				perDel(float64(t.Calls)), perDel(t.ReadUnits), perDel(t.WriteUnits), perDel(t.IndexWriteUnits),
				perDel(float64(sqsBilled(r.all()))), perDel(float64(pub+con)),
				f2(float64(rcv.Messages)/float64(max(rcv.Calls-rcv.Empty, 1))), money(b.gancho()), money(b.eventBridge()))
		}
		p("\n")
	}

	p("### Prices used\n\n")
	p("| item | price | source |\n|---|---:|---|\n")
	for _, pr := range allPrices {
		p("| %s | %s | %s |\n", pr.name, pr.String(), pr.source)
	}
	p("\nFree tiers and volume tiers are left out.\n")
}

// String shows a price per million units as the pricing pages do (Lambda's duration
// per GB-second).
func (pr price) String() string {
	if pr.unit == "GB-s" {
		return fmt.Sprintf("$%s per GB-second", trimFloat(pr.dollar))
	}
	v := trimFloat(pr.dollar * 1e6)
	if i := strings.IndexByte(v, '.'); i < 0 {
		v += ".00"
	} else if len(v)-i == 2 {
		v += "0"
	}
	return fmt.Sprintf("$%s per million %ss", v, pr.unit)
}

func subsLabel(n int) string {
	if n == 1 {
		return "1 subscription/event"
	}
	return fmt.Sprintf("%s subscriptions/event", thousands(n))
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// f2 shows two decimals, or four for what would show as 0.00.
func f2(v float64) string {
	if v != 0 && v < 0.005 && v > -0.005 {
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func money(v float64) string { return fmt.Sprintf("$%.2f", v) }

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.10f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
