package main

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/soak"
)

func TestConfigure(t *testing.T) {
	base := soak.DefaultConfig("/repo")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		events  int
		pubs    int
		dl      time.Duration
		wantErr bool
	}{
		{"CI size by default", nil, 2000, 8, soak.DeadlineFor(2000), false},
		{"bigger on demand", map[string]string{"SOAK_EVENTS": "20000"}, 20000, 8, soak.DeadlineFor(20000), false},
		{"publishers and deadline", map[string]string{"SOAK_PUBLISHERS": "16", "SOAK_DEADLINE": "10m"}, 2000, 16, 10 * time.Minute, false},
		{"events not a number", map[string]string{"SOAK_EVENTS": "lots"}, 0, 0, 0, true},
		{"no events", map[string]string{"SOAK_EVENTS": "0"}, 0, 0, 0, true},
		{"publishers negative", map[string]string{"SOAK_PUBLISHERS": "-1"}, 0, 0, 0, true},
		{"deadline not a duration", map[string]string{"SOAK_DEADLINE": "600"}, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configure(base, func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (cfg.Events != tc.events || cfg.Publishers != tc.pubs || cfg.Deadline != tc.dl) {
				t.Errorf("cfg = %d events, %d publishers, deadline %s", cfg.Events, cfg.Publishers, cfg.Deadline)
			}
		})
	}
}
