// Package outbound builds the one HTTP client Gancho uses for every call to a
// customer's or provider's server, guarded against server-side request forgery.
package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// ErrForbiddenAddress is returned when a call would reach a non-public address.
var ErrForbiddenAddress = errors.New("destination address is not public")

// Options configure the client.
type Options struct {
	// AllowPrivate lets calls reach loopback and private addresses (local runs only).
	AllowPrivate bool
	// MaxConnsPerHost bounds parallel connections to one receiver (0: 64).
	MaxConnsPerHost int
}

// NewClient returns a keep-alive client that never follows redirects, never uses a
// proxy from the environment and, unless opts.AllowPrivate, refuses to connect to any
// address that is not public. The check runs on the address actually dialled, after
// DNS resolution, so a name that resolves differently on a second lookup cannot
// get through.
func NewClient(opts Options) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = guard
	}
	perHost := opts.MaxConnsPerHost
	if perHost == 0 {
		perHost = 64
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   perHost,
		MaxConnsPerHost:       perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // bounded by each request's context
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func guard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrForbiddenAddress)
	}
	if !gancho.PublicAddr(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", ap.Addr(), ErrForbiddenAddress)
	}
	return nil
}

// Guarded reports whether err came from the address guard.
func Guarded(err error) bool { return errors.Is(err, ErrForbiddenAddress) }
