package lambdatest

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"
)

// TestFirstPoll records when the function first asked for an invocation: the end of
// its init, which the cold-start figures measure.
func TestFirstPoll(t *testing.T) {
	api, err := NewRuntimeAPI("arn:aws:lambda:us-east-1:123456789012:function:f", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	if got := api.FirstPoll(); !got.IsZero() {
		t.Fatalf("FirstPoll = %v before any poll; want zero", got)
	}
	before := time.Now()
	// A function: poll, answer, poll again (the second poll must not move the time).
	go func() {
		base := "http://" + api.Addr() + "/2018-06-01/runtime/"
		for range 2 {
			resp, err := http.Get(base + "invocation/next")
			if err != nil {
				return
			}
			id := resp.Header.Get(headerRequestID)
			resp.Body.Close()
			r, err := http.Post(base+"invocation/"+id+"/response", "application/json", bytes.NewReader([]byte(`"ok"`)))
			if err != nil {
				return
			}
			r.Body.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.Invoke(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	first := api.FirstPoll()
	if first.Before(before) || first.After(time.Now()) {
		t.Fatalf("FirstPoll = %v; want between %v and now", first, before)
	}
	if res, err := api.Invoke(ctx, []byte(`{}`)); err != nil || res.Outcome != OutcomeResponse {
		t.Fatalf("second invocation: %+v, %v", res, err)
	}
	if got := api.FirstPoll(); !got.Equal(first) {
		t.Errorf("FirstPoll moved from %v to %v on the second poll", first, got)
	}
}
