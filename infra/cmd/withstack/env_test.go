package main

import (
	"errors"
	"os/exec"
	"reflect"
	"testing"

	"github.com/gancho-dev/gancho/infra/emulators"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "PATH=/bin"}, map[string]string{"B": "3", "C": "4"})
	want := []string{"A=1", "PATH=/bin", "B=3", "C=4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %v, want %v", got, want)
	}
}

func TestCommandEnv(t *testing.T) {
	tgt := target{vars: map[string]string{"AWS_REGION": "us-east-1"}}
	res := &emulators.Resources{
		Tables: map[string]string{"GanchoTable": "s-GanchoTable", "Other": "s-Other"},
		Queues: map[string]emulators.QueueInfo{
			"DeliveriesQueue": {URL: "http://q/d"},
			"DeliveriesDLQ":   {URL: "http://q/dlq"},
			"Jobs":            {URL: "http://q/jobs.fifo"},
			"IngestQueue":     {URL: "http://q/ingest"},
			"IngestDLQ":       {URL: "http://q/ingest-dlq"},
		},
	}
	t.Setenv("GANCHO_ENCRYPTION_KEYS", "given:key")
	env := commandEnv(tgt, "s", res)
	want := map[string]string{
		"AWS_REGION":                       "us-east-1",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"GANCHO_STACK_NAME":                "s",
		"GANCHO_TABLE_NAME":                "s-GanchoTable",
		"GANCHO_TABLE_NAME_GANCHOTABLE":    "s-GanchoTable",
		"GANCHO_TABLE_NAME_OTHER":          "s-Other",
		"GANCHO_DELIVERIES_QUEUE_URL":      "http://q/d",
		"GANCHO_DELIVERIES_DLQ_URL":        "http://q/dlq",
		"GANCHO_QUEUE_URL_DELIVERIESQUEUE": "http://q/d",
		"GANCHO_QUEUE_URL_DELIVERIESDLQ":   "http://q/dlq",
		"GANCHO_QUEUE_URL_JOBS":            "http://q/jobs.fifo",
		"GANCHO_INGEST_QUEUE_URL":          "http://q/ingest",
		"GANCHO_INGEST_DLQ_URL":            "http://q/ingest-dlq",
		"GANCHO_QUEUE_URL_INGESTQUEUE":     "http://q/ingest",
		"GANCHO_QUEUE_URL_INGESTDLQ":       "http://q/ingest-dlq",
		"GANCHO_ENCRYPTION_KEYS":           "given:key",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("commandEnv = %v, want %v", env, want)
	}
}

func TestExternalTarget(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:2")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	tgt := externalTarget("http://127.0.0.1:1")
	if tgt.dynamoEndpoint != "http://127.0.0.1:1" || tgt.sqsEndpoint != "http://127.0.0.1:2" {
		t.Errorf("endpoints = %s %s", tgt.dynamoEndpoint, tgt.sqsEndpoint)
	}
	if tgt.cfg.Region != "eu-west-1" || tgt.vars["AWS_ACCESS_KEY_ID"] != emulators.LocalAccessKeyID {
		t.Errorf("region %s, vars %v", tgt.cfg.Region, tgt.vars)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -TERM $$", 143},
	} {
		code, err := exitCode(exec.Command("sh", "-c", tc.script).Run())
		if err != nil || code != tc.want {
			t.Errorf("%q: code %d, err %v; want %d", tc.script, code, err, tc.want)
		}
	}
	if _, err := exitCode(errors.New("boom")); err == nil {
		t.Error("a non-exit error gave no error")
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-stack", "x", "--", "go", "test", "-v"})
	if err != nil || cfg.stackName != "x" || !reflect.DeepEqual(cfg.command, []string{"go", "test", "-v"}) {
		t.Errorf("cfg = %+v, err %v", cfg, err)
	}
	if _, err := parseFlags(nil); err == nil {
		t.Error("no command accepted")
	}
}
