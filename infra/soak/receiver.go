package soak

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Faults is how often a receiver misbehaves, each a share of requests (0-1); the rest
// are acknowledged with 204.
type Faults struct {
	ServerError float64 // answers 500 or 503
	Hang        float64 // holds the request past the sender's timeout, then 503
	Reset       float64 // resets the connection without answering
}

// Answer kinds counted by the ledger.
const (
	answerOK    = "ok"
	answer5xx   = "5xx"
	answerHang  = "hang"
	answerReset = "reset"
)

// pick chooses how to answer, given a uniform number in [0, 1).
func (f Faults) pick(u float64) string {
	switch {
	case u < f.ServerError:
		return answer5xx
	case u < f.ServerError+f.Hang:
		return answerHang
	case u < f.ServerError+f.Hang+f.Reset:
		return answerReset
	}
	return answerOK
}

// maxHang bounds a hung request in case the sender never gives up on it.
const maxHang = 30 * time.Second

// receiver is one subscription's endpoint on loopback.
type receiver struct {
	sub    int
	faults Faults
	ledger *Ledger
	srv    *http.Server
	URL    string
}

// startReceiver listens on a loopback port and serves until close.
func startReceiver(sub int, faults Faults, ledger *Ledger) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{sub: sub, faults: faults, ledger: ledger, URL: "http://" + ln.Addr().String() + "/hook"}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

// envelope is the part of a delivery's body the soak reads.
type envelope struct {
	ID   string `json:"id"`
	Data struct {
		Seq *int `json:"seq"`
	} `json:"data"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the sender went away
	}
	kind := r.faults.pick(rand.Float64())
	r.ledger.Answered(kind)
	switch kind {
	case answer5xx:
		w.WriteHeader([]int{http.StatusInternalServerError, http.StatusServiceUnavailable}[rand.IntN(2)])
		return
	case answerHang:
		hang(req.Context())
		w.WriteHeader(http.StatusServiceUnavailable) // never 2xx: it counts as not received
		return
	case answerReset:
		reset(w)
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Data.Seq == nil || env.ID == "" {
		http.Error(w, "not a soak event", http.StatusBadRequest)
		return
	}
	// Recorded before answering: what counts is that the receiver took it.
	r.ledger.Acknowledge(Pair{Seq: *env.Data.Seq, Sub: r.sub}, env.ID, time.Now())
	w.WriteHeader(http.StatusNoContent)
}

// hang waits until the sender gives up on the request (or maxHang).
func hang(ctx context.Context) {
	t := time.NewTimer(maxHang)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// reset closes the connection with a TCP RST instead of an answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errors.New("receiver: connection cannot be hijacked"))
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST
	}
	_ = conn.Close()
}
