package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/publish"
)

// fakes: events whose payload says {"fail": "..."} fail that way.
type fakePrep struct{}

func (fakePrep) PrepareIngest(_ context.Context, tenant string, event json.RawMessage, _ string) (publish.BatchItem, error) {
	var in struct {
		Payload struct{ Fail string } `json:"payload"`
	}
	_ = json.Unmarshal(event, &in)
	switch in.Payload.Fail {
	case "invalid":
		return publish.BatchItem{}, gancho.Invalid(gancho.FieldError{Field: "payload", Message: "is bad"})
	case "store":
		return publish.BatchItem{}, errors.New("read catalog: throttled")
	}
	return publish.BatchItem{Event: gancho.Event{TenantID: tenant, ID: in.Payload.Fail}}, nil
}

type fakePub struct{ batches int }

func (f *fakePub) PublishBatch(_ context.Context, items []publish.BatchItem) []publish.BatchOutcome {
	f.batches++
	out := make([]publish.BatchOutcome, len(items))
	for i, it := range items {
		switch it.Event.ID {
		case "down":
			out[i].Err = errors.New("queue unavailable")
		case "running":
			out[i].Err = &gancho.Error{Kind: gancho.KindConflict, Err: publish.ErrStillRunning}
		case "reused":
			out[i].Err = &gancho.Error{Kind: gancho.KindConflict, Err: publish.ErrKeyReused, Detail: "reused",
				Fields: []gancho.FieldError{{Field: "idempotencyKey", Message: "was used"}}}
		default:
			out[i].Result.Event = it.Event
		}
	}
	return out
}

type fakeTenants struct{}

func (fakeTenants) GetTenant(_ context.Context, id string) (gancho.Tenant, error) {
	if id == "ten_gone" {
		return gancho.Tenant{}, gancho.ErrNotFound
	}
	return gancho.Tenant{ID: id}, nil
}

type fakeSQS struct{ sent map[string]string } // body → problem attribute

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	for _, e := range in.Entries {
		f.sent[aws.ToString(e.MessageBody)] = aws.ToString(e.MessageAttributes[ingest.ProblemAttribute].StringValue)
	}
	return &sqs.SendMessageBatchOutput{}, nil
}

// TestHandleSortsFailures: what cannot pass again is dead-lettered with its problem,
// what may pass again is reported for SQS to retry, the rest is one batch publish.
func TestHandleSortsFailures(t *testing.T) {
	msg := func(tenant, fail string) string {
		return `{"tenantId":"` + tenant + `","event":{"type":"a.b","payload":{"fail":"` + fail + `"}}}`
	}
	records := map[string]struct {
		body  string
		retry bool
		dead  bool
	}{
		"ok":        {body: msg("ten_a", "ok")},
		"ok2":       {body: msg("ten_b", "ok2")},
		"invalid":   {body: msg("ten_a", "invalid"), dead: true},
		"no-tenant": {body: msg("ten_gone", "ok"), dead: true},
		"not-json":  {body: `{`, dead: true},
		"reused":    {body: msg("ten_a", "reused"), dead: true},
		"store":     {body: msg("ten_a", "store"), retry: true},
		"down":      {body: msg("ten_a", "down"), retry: true},
		"running":   {body: msg("ten_a", "running"), retry: true},
	}
	var ev events.SQSEvent
	for id, r := range records {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: r.body})
	}
	pub, sender := &fakePub{}, &fakeSQS{sent: map[string]string{}}
	h := ingest.NewHandler(fakePrep{}, pub, fakeTenants{}, sender, "http://127.0.0.1:1/q/dlq", slog.New(slog.DiscardHandler))
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var retried []string
	for _, f := range resp.BatchItemFailures {
		retried = append(retried, f.ItemIdentifier)
	}
	for id, r := range records {
		if slices.Contains(retried, id) != r.retry {
			t.Errorf("%s: retried=%v, want %v", id, !r.retry, r.retry)
		}
		problem, dead := sender.sent[r.body]
		if dead != r.dead {
			t.Errorf("%s: dead-lettered=%v, want %v", id, dead, r.dead)
		}
		var p struct{ Status int }
		if dead && (json.Unmarshal([]byte(problem), &p) != nil || p.Status < 400 || p.Status >= 500) {
			t.Errorf("%s: problem %s; want a 4xx problem object", id, problem)
		}
	}
	if pub.batches != 1 {
		t.Errorf("%d batch publishes, want 1 for the whole batch", pub.batches)
	}
}
