package gancho

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// JSON merge patch (RFC 7396), one way for every PATCH route: the object's writable
// members as a client reads them (write-only values masked) are merged with the
// patch, and the result is read and validated exactly like a full input. A masked
// value that comes back unchanged keeps the stored one.

// MergePatch applies the merge patch patch to target (both decoded JSON values).
func MergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = MergePatch(out[k], v)
	}
	return out
}

// decodePatch reads a merge patch: a JSON object (numbers kept as written).
func decodePatch(patch []byte) (map[string]any, error) {
	var p map[string]any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil || p == nil {
		return nil, Errorf(KindBadRequest, "request body must be a JSON object")
	}
	if _, ok := p[""]; ok {
		// No field has an empty name, and a field error naming "" names nothing.
		return nil, Errorf(KindBadRequest, "malformed JSON: a member has an empty name")
	}
	return p, nil
}

// writableDoc returns the writable members of current, encoded as JSON the way a
// client reads it, as the document a patch merges into.
func writableDoc(current any, writable []string) (map[string]any, error) {
	raw, err := json.Marshal(current)
	if err != nil {
		return nil, fmt.Errorf("encode current state: %w", err)
	}
	var all map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("decode current state: %w", err)
	}
	doc := make(map[string]any, len(writable))
	for _, f := range writable {
		if v, ok := all[f]; ok {
			doc[f] = v
		}
	}
	return doc, nil
}

// mergeWritable returns the writable members of current merged with patch, as JSON.
func mergeWritable(current any, writable []string, patch map[string]any) ([]byte, error) {
	doc, err := writableDoc(current, writable)
	if err != nil {
		return nil, err
	}
	merged, err := json.Marshal(MergePatch(doc, patch))
	if err != nil {
		return nil, fmt.Errorf("encode merged patch: %w", err)
	}
	return merged, nil
}

// subscriptionWritable are the subscription fields a client sets; PATCH merges into them.
var subscriptionWritable = []string{"name", "description", "url", "method", "events", "ownerId", "context", "headers",
	"auth", "mode", "format", "isActive", "timeoutSeconds", "rateLimitPerSecond", "retrySchedule", "ordered", "metadata", "signature", "destination"}

// Writable is the document a PATCH of s merges into: its writable fields as a client
// reads them.
func (s Subscription) Writable() (map[string]any, error) {
	return writableDoc(s.Redacted(), subscriptionWritable)
}

// Patch applies a JSON merge patch (RFC 7396) to s's writable fields as a client
// reads them (write-only values masked, which SubscriptionInput.KeepWriteOnly
// restores) and returns the result as the input of a full replacement, to be
// validated exactly like a PUT.
func (s Subscription) Patch(patch []byte) (SubscriptionInput, error) {
	p, err := decodePatch(patch)
	if err != nil {
		return SubscriptionInput{}, err
	}
	merged, err := mergeWritable(s.Redacted(), subscriptionWritable, p)
	if err != nil {
		return SubscriptionInput{}, err
	}
	var in SubscriptionInput
	if err := DecodeJSON(merged, &in); err != nil {
		return SubscriptionInput{}, err
	}
	return in, nil
}
