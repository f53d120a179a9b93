package verify_test

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gancho-dev/gancho/shared/verify"
)

// A receiver: the README's example, kept here so that it compiles. Its body is the
// README's func main (TestReadmeExample compares them).
func Example() {
	// The subscription's secret; during a rotation give both: verify.New(current, previous).
	v, err := verify.New(os.Getenv("GANCHO_WEBHOOK_SECRET"))
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /webhooks", v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := verify.FromContext(r.Context()) // only verified deliveries get here
		// d.ID is the same on every retry of this delivery: use it to skip duplicates.
		if d.Event != nil {
			log.Printf("delivery %s: %s %s %s", d.ID, d.Event.Type, d.Event.ID, d.Event.Data)
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})))
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", nil))
}

// Verifying the headers' values directly, here the Standard Webhooks test vector.
func ExampleVerifier_VerifySignature() {
	v, err := verify.New("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		log.Fatal(err)
	}
	v = v.WithClock(func() time.Time { return time.Unix(1614265330, 0) })
	body := []byte(`{"test": 2432232314}`)
	fmt.Println(v.VerifySignature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body))
	fmt.Println(v.VerifySignature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 1}`)))
	// Output:
	// <nil>
	// webhook-signature: no matching signature
}
