package httpapi

import "strings"

// Access is what a route's Lambda may do to the stack's table and queues: the
// template grants its function exactly these permissions and no more (the template
// check compares both, and the calls the code makes against both), so a route that
// starts writing must say so here before its Lambda may.
type Access uint8

// AccessNone touches neither the table nor a queue (health, help, openapi).
const AccessNone Access = 0

const (
	// AccessRead reads the table (DynamoDBReadPolicy).
	AccessRead Access = 1 << iota
	// AccessWrite reads and writes the table (DynamoDBCrudPolicy); it includes AccessRead.
	AccessWrite
	// AccessQueue sends to the deliveries queue (fan-outs, retries, recovery).
	AccessQueue
	// AccessOrderedQueue sends to the ordered (FIFO) deliveries queue.
	AccessOrderedQueue
	// AccessDeadLetters receives and deletes messages of the deliveries dead-letter queue.
	AccessDeadLetters
)

var accessNames = []struct {
	a    Access
	name string
}{
	{AccessRead, "read"}, {AccessWrite, "write"}, {AccessQueue, "queue"},
	{AccessOrderedQueue, "ordered-queue"}, {AccessDeadLetters, "dead-letters"},
}

// String is "none", or the names of a's accesses joined by "+" ("write+queue").
func (a Access) String() string {
	if a == AccessNone {
		return "none"
	}
	var parts []string
	for _, n := range accessNames {
		if a&n.a != 0 {
			parts = append(parts, n.name)
			a &^= n.a
		}
	}
	if a != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, "+")
}
