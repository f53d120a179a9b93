package gancho

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Destination types: where a subscription's deliveries go.
const (
	DestinationHTTP = "http" // the subscription's url (the default)
	DestinationSQS  = "sqs"  // an Amazon SQS queue
	DestinationSNS  = "sns"  // an Amazon SNS topic
)

// Target is where a subscription's deliveries go: its HTTP url, an SQS queue or an SNS
// topic. A queue or topic in another AWS account is reached only through RoleARN, a
// role the customer created there and that trusts this deployment with the tenant id
// as external id.
type Target struct {
	Type     string `json:"type" schema:"enum=http|sqs|sns" doc:"http (the default: the subscription's url), sqs or sns"`
	QueueURL string `json:"queueUrl,omitempty" doc:"sqs: the queue's URL, https://sqs.<region>.amazonaws.com/<account>/<name>"`
	TopicARN string `json:"topicArn,omitempty" doc:"sns: the topic's ARN, arn:aws:sns:<region>:<account>:<name>"`
	RoleARN  string `json:"roleArn,omitempty" doc:"sqs and sns: a role in the queue's or topic's account, assumed with the tenant id as external id; required for a destination in another AWS account"`
	// SessionName is derived for reads (Subscription.Redacted), not stored.
	SessionName string `json:"sessionName,omitempty" schema:"readOnly" doc:"with roleArn: the role session name the deliveries assume it with, gancho-<tenant id>, and -<16 hex of SHA-256 of ownerId> for a subscription with an owner; a trust policy may require it (sts:RoleSessionName) to trust one owner only"`
}

// SessionName is the role session name a subscription's deliveries assume its role
// with: the tenant's, and its owner's when it has one, so a customer's trust policy
// can hold a role to one owner (the external id, the tenant id, is shared by every
// owner of the tenant). At most 64 characters of the set STS allows.
func SessionName(tenantID, ownerID string) string {
	b := []byte("gancho-")
	for i := 0; i < len(tenantID) && len(b) < 7+40; i++ {
		if c := tenantID[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.@=,+", c) >= 0 {
			b = append(b, c)
		}
	}
	if ownerID != "" {
		sum := sha256.Sum256([]byte(ownerID))
		b = append(b, '-')
		b = append(b, hex.EncodeToString(sum[:8])...)
	}
	return string(b)
}

// IsAWS reports whether the target is a queue or topic rather than an HTTP endpoint.
func (t Target) IsAWS() bool { return t.Type == DestinationSQS || t.Type == DestinationSNS }

// Kind is the target's type, http for a subscription stored before destinations.
func (t Target) Kind() string {
	if t.Type == "" {
		return DestinationHTTP
	}
	return t.Type
}

// AWSResource is a queue or topic as its URL or ARN names it.
type AWSResource struct {
	Region  string // empty for a local queue URL, which names none
	Account string
	Name    string
}

// FIFO reports whether the queue or topic is a FIFO one: its messages need a group
// and a deduplication id.
func (r AWSResource) FIFO() bool { return strings.HasSuffix(r.Name, ".fifo") }

// Resource is the queue or topic the target names (zero for an http target or one
// that does not parse: validation refuses those).
func (t Target) Resource() AWSResource {
	switch t.Type {
	case DestinationSQS:
		r, _ := parseQueueURL(t.QueueURL, true)
		return r
	case DestinationSNS:
		r, _ := parseTopicARN(t.TopicARN)
		return r
	}
	return AWSResource{}
}

// DefaultDestinationPrefix is the name prefix a queue or topic in the deployment's
// own account must have to be a destination without a role: the deployment's IAM
// policy grants sending to those names only, so a tenant can never name one of the
// deployment's own queues.
const DefaultDestinationPrefix = "gancho-dest-"

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	// SQS and SNS count a FIFO name's .fifo suffix in their 80 and 256 characters.
	queueNameRe = regexp.MustCompile(`^(?:[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)$`)
	topicNameRe = regexp.MustCompile(`^(?:[A-Za-z0-9_-]{1,256}|[A-Za-z0-9_-]{1,251}\.fifo)$`)
	// sqsHostRe is an SQS endpoint's host: sqs.<region>.amazonaws.com(.cn), or the
	// legacy <region>.queue.amazonaws.com.
	sqsHostRe = regexp.MustCompile(`^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?)$`)
	roleRe    = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:iam::([0-9]{12}):role/([A-Za-z0-9+=,.@_/-]{1,512})$`)
	topicRe   = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:sns:([a-z0-9-]+):([0-9]{12}):(.+)$`)
)

// parseQueueURL reads https://sqs.<region>.amazonaws.com/<account>/<name>. With
// insecure (local runs), any http(s) host serving /<account>/<name> is accepted: an
// emulator's.
func parseQueueURL(raw string, insecure bool) (AWSResource, string) {
	const form = "must be an SQS queue URL, https://sqs.<region>.amazonaws.com/<account>/<name>"
	if len(raw) > MaxURLLength {
		return AWSResource{}, form
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return AWSResource{}, form
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || !accountRe.MatchString(parts[0]) {
		return AWSResource{}, form
	}
	if !queueNameRe.MatchString(parts[1]) {
		return AWSResource{}, "must end in a queue name of 1-80 letters, digits, '-' and '_' (a FIFO queue's ends in .fifo)"
	}
	r := AWSResource{Account: parts[0], Name: parts[1]}
	if m := sqsHostRe.FindStringSubmatch(strings.ToLower(u.Host)); m != nil && u.Scheme == "https" {
		r.Region = m[1] + m[2]
		if !regionRe.MatchString(r.Region) {
			return AWSResource{}, form
		}
		return r, ""
	}
	if insecure && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return r, ""
	}
	return AWSResource{}, form
}

// parseTopicARN reads arn:aws:sns:<region>:<account>:<name>.
func parseTopicARN(raw string) (AWSResource, string) {
	m := topicRe.FindStringSubmatch(raw)
	if m == nil || !regionRe.MatchString(m[1]) {
		return AWSResource{}, "must be an SNS topic ARN, arn:aws:sns:<region>:<account>:<name>"
	}
	if !topicNameRe.MatchString(m[3]) {
		return AWSResource{}, "must end in a topic name of 1-256 letters, digits, '-' and '_' (a FIFO topic's ends in .fifo)"
	}
	return AWSResource{Region: m[1], Account: m[2], Name: m[3]}, ""
}

// ownQueue reports whether name is one of the deployment's own queues.
func (p TargetPolicy) ownQueue(name string) bool {
	for _, u := range p.OwnQueues {
		if r, _ := parseQueueURL(u, true); r.Name == name {
			return true
		}
	}
	return false
}

// IsAccountID reports whether s is an AWS account id (12 digits).
func IsAccountID(s string) bool { return accountRe.MatchString(s) }

// RoleAccount is the account of a role ARN, "" when it is not one.
func RoleAccount(roleARN string) string {
	if m := roleRe.FindStringSubmatch(roleARN); m != nil {
		return m[1]
	}
	return ""
}

// Check validates a stored destination against the deployment's policy as it is now:
// the consumer checks again before each send, so a queue, topic or role that a
// subscription stored under another policy (another DestinationPrefix, no known
// account) names is never reached.
func (t Target) Check(policy TargetPolicy) error {
	var errs []FieldError
	checkTarget(t, policy, func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	})
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// checkTarget validates a destination against the deployment's policy and returns it
// with its type defaulted. The rule that stands for SSRF among AWS accounts: a queue
// or topic in another account only through a role the customer created in that
// account (never one of the deployment's own); in the deployment's own account, only
// names with the deployment's destination prefix, which its IAM policy is limited to.
func checkTarget(in Target, policy TargetPolicy, bad func(field, format string, args ...any)) Target {
	t := Target{Type: in.Type, QueueURL: in.QueueURL, TopicARN: in.TopicARN, RoleARN: in.RoleARN}
	if t.Type == "" {
		t.Type = DestinationHTTP
	}
	var res AWSResource
	var field string
	switch t.Type {
	case DestinationHTTP:
		if t.QueueURL != "" || t.TopicARN != "" || t.RoleARN != "" {
			bad("destination", "type http takes no other fields: its endpoint is the subscription's url")
		}
		return t
	case DestinationSQS:
		field = "destination.queueUrl"
		if t.TopicARN != "" {
			bad("destination.topicArn", "applies only to type sns")
		}
		if t.QueueURL == "" {
			bad(field, "is required for type sqs")
			return t
		}
		var msg string
		if res, msg = parseQueueURL(t.QueueURL, policy.AllowInsecure); msg != "" {
			bad(field, "%s", msg)
			return t
		}
	case DestinationSNS:
		field = "destination.topicArn"
		if t.QueueURL != "" {
			bad("destination.queueUrl", "applies only to type sqs")
		}
		if t.TopicARN == "" {
			bad(field, "is required for type sns")
			return t
		}
		var msg string
		if res, msg = parseTopicARN(t.TopicARN); msg != "" {
			bad(field, "%s", msg)
			return t
		}
	default:
		bad("destination.type", "must be http, sqs or sns")
		return t
	}
	if policy.AWSAccount == "" {
		// Without its own account the deployment cannot tell its own roles and queues
		// from a customer's.
		bad("destination.type", "this deployment takes no sqs or sns destinations: its AWS account is not configured (GANCHO_AWS_ACCOUNT_ID)")
		return t
	}
	if t.Type == DestinationSQS && res.Account == policy.AWSAccount && policy.ownQueue(res.Name) {
		bad(field, "is one of this deployment's own queues")
		return t
	}
	if t.RoleARN != "" {
		switch acct := RoleAccount(t.RoleARN); {
		case acct == "":
			bad("destination.roleArn", "must be an IAM role ARN, arn:aws:iam::<account>:role/<name>")
		case acct != res.Account:
			bad("destination.roleArn", "must be a role in the destination's account (%s)", res.Account)
		case acct == policy.AWSAccount:
			bad("destination.roleArn", "must be a role in your own AWS account, not one of this deployment's")
		}
		return t
	}
	switch prefix := policy.destinationPrefix(); {
	case res.Account != policy.AWSAccount:
		bad("destination.roleArn", "is required: the destination is in another AWS account, reached only through a role you create there that trusts this deployment with your tenant id as external id")
	case !strings.HasPrefix(res.Name, prefix):
		bad(field, "%s", fmt.Sprintf("names a destination in this deployment's own AWS account: its name must start with %q (or give a roleArn in your own account)", prefix))
	}
	return t
}

// QueueMessage is one attempt of a delivery as an SQS or SNS message: the body a
// webhook would carry, and the webhook-* values as message attributes.
type QueueMessage struct {
	Body       []byte
	Attributes map[string]string
	// GroupID and DeduplicationID are set for a FIFO queue or topic: the event's
	// subject (else the subscription) orders, the delivery id deduplicates retries
	// the queue already took.
	GroupID         string
	DeduplicationID string
}

// Forwarded is how a queue or topic answered one message.
type Forwarded struct {
	StatusCode int    // the AWS API's HTTP status (0: no answer)
	Response   string // the message id when taken, else the error code and message
}
