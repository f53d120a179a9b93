package awsdest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// fakeSTS answers AssumeRole with credentials valid for the duration asked, and
// records each call.
type fakeSTS struct {
	mu    sync.Mutex
	calls []sts.AssumeRoleInput
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in)
	exp := time.Now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIAFAKE"),
		SecretAccessKey: aws.String("secret"), SessionToken: aws.String("token"), Expiration: &exp}}, nil
}

// A role is assumed once and its credentials serve every delivery until they near
// their end; each tenant (and each session name) assumes it on its own, with its own
// external id, so one tenant's credentials never serve another's delivery.
func TestRoleCredentialsAreAssumedOncePerTenantAndSession(t *testing.T) {
	f := &fakeSTS{}
	s := New(nil, nil, f)
	const role = "arn:aws:iam::222222222222:role/gancho-sender"
	ctx := context.Background()
	for range 50 {
		for _, who := range [][2]string{{"ten_a", "gancho-ten_a"}, {"ten_b", "gancho-ten_b"}, {"ten_a", "gancho-ten_a-0123456789abcdef"}} {
			if _, err := s.credentials(who[0], role, who[1]).Retrieve(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(f.calls) != 3 {
		t.Fatalf("%d AssumeRole calls for 150 retrievals, want 3", len(f.calls))
	}
	for i, want := range [][2]string{{"ten_a", "gancho-ten_a"}, {"ten_b", "gancho-ten_b"}, {"ten_a", "gancho-ten_a-0123456789abcdef"}} {
		c := f.calls[i]
		if aws.ToString(c.ExternalId) != want[0] || aws.ToString(c.RoleSessionName) != want[1] || aws.ToString(c.RoleArn) != role ||
			aws.ToInt32(c.DurationSeconds) != int32(SessionDuration/time.Second) {
			t.Errorf("call %d: external id %q session %q role %q duration %d", i, aws.ToString(c.ExternalId), aws.ToString(c.RoleSessionName),
				aws.ToString(c.RoleArn), aws.ToInt32(c.DurationSeconds))
		}
	}
	if s.credentials("ten_a", "", "") != nil {
		t.Error("no role: want the deployment's own credentials (nil)")
	}
}
