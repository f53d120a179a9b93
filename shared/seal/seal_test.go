package seal_test

import (
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/seal"
)

func TestRoundTripAndRotation(t *testing.T) {
	k1, k2 := seal.NewKey("k1"), seal.NewKey("k2")
	old, err := seal.New(k1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal("whsec_secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_secret") || !strings.HasPrefix(sealed, "sealed:v1:k1:") {
		t.Fatalf("sealed = %q", sealed)
	}
	rotated, _ := seal.New(k2, k1) // seals with k2, still opens k1
	if got, err := rotated.Open(sealed); err != nil || got != "whsec_secret" {
		t.Fatalf("Open after rotation = %q, %v", got, err)
	}
	again, _ := rotated.Seal("whsec_secret")
	if !strings.HasPrefix(again, "sealed:v1:k2:") || again == sealed {
		t.Fatalf("resealed = %q", again)
	}
	if empty, _ := old.Seal(""); empty != "" {
		t.Fatalf("empty sealed to %q", empty)
	}
}

func TestOpenRejects(t *testing.T) {
	s, _ := seal.New(seal.NewKey("k1"))
	other, _ := seal.New(seal.NewKey("k1")) // same id, another key
	good, _ := s.Seal("value")
	tampered := good[:len(good)-2] + "AA"
	foreign, _ := other.Seal("value")
	for name, v := range map[string]string{
		"plain": "value", "unknown key": strings.Replace(good, ":k1:", ":k9:", 1),
		"tampered": tampered, "other key": foreign, "truncated": "sealed:v1:k1:AAAA",
	} {
		if _, err := s.Open(v); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, k := range []string{"", "nokey", "k1:short", ":AAAA", "k1:" + strings.Repeat("A", 44)} {
		if _, err := seal.New(k); err == nil {
			t.Errorf("New(%q) accepted", k)
		}
	}
}
