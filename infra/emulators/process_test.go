package emulators

import (
	"bytes"
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	tb.Write([]byte("0123456"))
	tb.Write([]byte("789abc"))
	if got := tb.String(); got != "56789abc" {
		t.Errorf("tail = %q", got)
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{w: &out, prefix: "[x] "}
	for _, s := range []string{"one\ntw", "o\n", "", "three\nfour\n"} {
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "[x] one\n[x] two\n[x] three\n[x] four\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestPortTaken(t *testing.T) {
	if !portTaken(errEarlyExitWith("java.net.BindException: Address already in use")) {
		t.Error("BindException not recognised")
	}
	if portTaken(errEarlyExitWith("OutOfMemoryError")) {
		t.Error("unrelated failure taken for a port conflict")
	}
}

func errEarlyExitWith(output string) error {
	p := &process{name: "x", tail: &tailBuffer{max: tailSize}}
	p.tail.Write([]byte(strings.Repeat("line\n", 3) + output))
	return p.exited()
}
