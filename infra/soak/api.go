package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// api calls Gancho's HTTP API with the dev tenant's key.
type api struct {
	base string
	key  string
	hc   *http.Client
}

func newAPI(base, key string, conns int) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // loopback only, whatever the environment says
	tr.MaxIdleConnsPerHost = conns
	return &api{base: base, key: key, hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// response is what a call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request (no retries). A transport error means no response was seen.
func (a *api) call(ctx context.Context, method, path string, header map[string]string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must sends a request that has to succeed with want, retrying transport errors
// (the server may be restarting) until ctx ends, and decodes the answer into out.
func (a *api) must(ctx context.Context, method, path string, body any, out any, want ...int) error {
	for {
		res, err := a.call(ctx, method, path, nil, body)
		if err == nil {
			for _, w := range want {
				if res.status == w {
					if out == nil {
						return nil
					}
					return json.Unmarshal(res.body, out)
				}
			}
			if res.status < 500 {
				return fmt.Errorf("%s %s: %d %s", method, path, res.status, res.body)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w (last error: %v)", method, path, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// delivery is the part of a delivery record the soak reads.
type delivery struct {
	ID             string `json:"id"`
	EventID        string `json:"eventId"`
	SubscriptionID string `json:"subscriptionId"`
	Status         string `json:"status"`
	Attempts       []struct {
		Number     int    `json:"number"`
		StatusCode int    `json:"statusCode"`
		Error      string `json:"error"`
	} `json:"attempts"`
}

// eventDeliveries lists every delivery of an event.
func (a *api) eventDeliveries(ctx context.Context, eventID string) ([]delivery, error) {
	return listAll[delivery](ctx, a, "/v1/events/"+url.PathEscape(eventID)+"/deliveries?limit=100")
}

// listAll follows a list's cursors from path (which has a query) to its last page.
func listAll[T any](ctx context.Context, a *api, path string) ([]T, error) {
	var all []T
	cursor := ""
	for {
		var page struct {
			Data       []T     `json:"data"`
			NextCursor *string `json:"nextCursor"`
		}
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := a.must(ctx, http.MethodGet, p, nil, &page, http.StatusOK); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		cursor = *page.NextCursor
	}
}

// listedEvent is the part of a stored event the soak reads.
type listedEvent struct {
	ID   string `json:"id"`
	Data struct {
		Seq *int `json:"seq"`
	} `json:"data"`
}

// events lists every stored event of a type.
func (a *api) events(ctx context.Context, eventType string) ([]listedEvent, error) {
	return listAll[listedEvent](ctx, a, "/v1/events?limit=100&type="+url.QueryEscape(eventType))
}
