package gancho

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Crockford-like lower-case alphabet whose byte order matches its sort order.
var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// NewID returns prefix + a 26-character id that sorts by creation time (millisecond
// timestamp first, then 80 random bits), so "newest first" is a reverse key order.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// DeliveryID is deterministic for one event and one destination, so re-queueing the
// deliveries of an event after a crash produces the same records and the same webhook-id.
// For ids that NewID made it is the event's id and the subscription's id side by side
// (or the event's and "c" for its callback), so the id alone locates the delivery's
// record (ParseDeliveryID) and a subscription's deliveries sort by event time. Other
// ids (none that Gancho makes) get a hashed form that ParseDeliveryID refuses.
func DeliveryID(eventID, destination string) string {
	evt, okEvt := strings.CutPrefix(eventID, PrefixEvent)
	if okEvt && isNewID(evt) {
		if destination == CallbackDestination {
			return PrefixDelivery + evt + callbackMark
		}
		if sub, ok := strings.CutPrefix(destination, PrefixSubscription); ok && isNewID(sub) {
			return PrefixDelivery + evt + sub
		}
	}
	sum := sha256.Sum256([]byte(eventID + "\x00" + destination))
	// Keep the event id's time prefix so a subscription's deliveries sort by event time.
	ts := strings.TrimPrefix(eventID, PrefixEvent)
	if len(ts) > 10 {
		ts = ts[:10]
	}
	return PrefixDelivery + ts + idEncoding.EncodeToString(sum[:10])
}

// callbackMark ends the id of a delivery to an event's callback.
const callbackMark = "c"

// idLen is the length of NewID's part after the prefix.
const idLen = 26

func isNewID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(idAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// ParseDeliveryID returns the event and destination of a delivery id that DeliveryID
// made from ids NewID made; ok is false for anything else.
func ParseDeliveryID(id string) (eventID, destination string, ok bool) {
	rest, found := strings.CutPrefix(id, PrefixDelivery)
	if !found || len(rest) < idLen || !isNewID(rest[:idLen]) {
		return "", "", false
	}
	eventID = PrefixEvent + rest[:idLen]
	switch tail := rest[idLen:]; {
	case tail == callbackMark:
		return eventID, CallbackDestination, true
	case isNewID(tail):
		return eventID, PrefixSubscription + tail, true
	}
	return "", "", false
}

// Id prefixes.
const (
	PrefixSubscription = "sub_"
	PrefixEvent        = "evt_"
	PrefixDelivery     = "dlv_"
	PrefixKey          = "key_"
	PrefixTenant       = "ten_"
)

// RandomToken returns n random bytes, panicking only if the OS random source fails.
func RandomToken(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return b
}

// IDFloor is the smallest id with prefix that NewID could make at t: ids made at or
// after t sort at or after it, so a time range is a key range.
func IDFloor(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	return prefix + idEncoding.EncodeToString(b[:])
}
