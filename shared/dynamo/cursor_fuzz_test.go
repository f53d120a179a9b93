package dynamo

import (
	"encoding/base64"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// listPartitions are the partitions the list routes bind their cursors to, as the
// Store builds them for a tenant (and, for deliveries, an event or subscription id).
func listPartitions(tenant, id string) map[string][2]string {
	return map[string][2]string{
		"subscriptions":           {"gsi1pk", "T#" + tenant + "#S"},
		"api keys":                {"gsi1pk", "T#" + tenant + "#K"},
		"events":                  {"gsi1pk", "T#" + tenant + "#E"},
		"event deliveries":        {"gsi2pk", "T#" + tenant + "#E#" + id + "#D"},
		"subscription deliveries": {"gsi1pk", "T#" + tenant + "#S#" + id + "#D"},
	}
}

func validTenantID(id string) bool {
	name := "t"
	_, err := gancho.NewTenant(gancho.TenantInput{ID: &id, Name: &name}, time.Now())
	return err == nil
}

// FuzzCursor decodes arbitrary cursors for two tenants: a cursor accepted for one
// tenant's list is refused for every other tenant's, an accepted cursor holds exactly
// the key attributes and survives encode/decode, and a cursor the Store wrote always
// decodes back to its key for the same list.
func FuzzCursor(f *testing.F) {
	enc := func(m map[string]string) string {
		lek := map[string]av{}
		for k, v := range m {
			lek[k] = s(v)
		}
		c, err := encodeCursor(lek)
		if err != nil {
			f.Fatal(err)
		}
		return c
	}
	own := enc(map[string]string{"pk": "T#acme#S#sub_1", "sk": "S", "gsi1pk": "T#acme#S", "gsi1sk": "2026"})
	for _, c := range []string{
		"", own, "!!", "e30", base64.RawURLEncoding.EncodeToString([]byte(`{"gsi1pk":"T#acme#S"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"a","sk":"b","gsi1pk":"T#acme#S","gsi1sk":"c","x":"d"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"a","sk":"b","gsi1pk":"T#acme#S","gsi1sk":""}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":1,"sk":"b","gsi1pk":"T#acme#S","gsi1sk":"c"}`)),
		base64.StdEncoding.EncodeToString([]byte(`{"pk":"a","sk":"b","gsi1pk":"T#acme#S","gsi1sk":"c"}`)),
	} {
		f.Add(c, "acme", "acme-2", "evt_1", "2026-11-28")
	}
	f.Add(own, "acme", "acm", "", "x")
	f.Add(own, "acme", "acme#S", "x", "y")
	f.Fuzz(func(t *testing.T, cursor, tenantA, tenantB, id, sortKey string) {
		// DynamoDB strings are UTF-8: keys the Store writes never hold anything else.
		if !validTenantID(tenantA) || !validTenantID(tenantB) || !utf8.ValidString(id) || !utf8.ValidString(sortKey) {
			return
		}
		partsA, partsB := listPartitions(tenantA, id), listPartitions(tenantB, id)
		for list, pa := range partsA {
			attr, part := pa[0], pa[1]
			got, err := decodeCursor(cursor, attr, part)
			if err != nil {
				var ge *gancho.Error
				if !errors.As(err, &ge) || ge.Kind != gancho.KindBadRequest || len(ge.Fields) != 1 || ge.Fields[0].Field != "cursor" {
					t.Fatalf("%s: cursor %q refused with %v, want a 400 naming cursor", list, cursor, err)
				}
			} else if cursor != "" {
				want := []string{"pk", "sk"}
				if attr != "pk" {
					want = append(want, attr, strings.TrimSuffix(attr, "pk")+"sk")
				}
				if len(got) != len(want) {
					t.Fatalf("%s: cursor %q decoded to %d attributes, want %v", list, cursor, len(got), want)
				}
				for _, k := range want {
					v, ok := got[k].(*types.AttributeValueMemberS)
					if !ok || v.Value == "" {
						t.Fatalf("%s: cursor %q decoded without %s", list, cursor, k)
					}
				}
				if v := got[attr].(*types.AttributeValueMemberS).Value; v != part {
					t.Fatalf("%s: cursor %q decoded for partition %q, want %q", list, cursor, v, part)
				}
				again, err := encodeCursor(got)
				if err != nil {
					t.Fatal(err)
				}
				if back, err := decodeCursor(again, attr, part); err != nil || !sameKey(back, got) {
					t.Fatalf("%s: re-encoded cursor %q does not decode to the same key (%v)", list, again, err)
				}
				if tenantA != tenantB {
					if _, err := decodeCursor(cursor, attr, partsB[list][1]); err == nil {
						t.Fatalf("%s: cursor %q of tenant %q is accepted for tenant %q", list, cursor, tenantA, tenantB)
					}
				}
			}

			// What the Store writes for this list decodes back for it.
			lek := map[string]av{"pk": s(part + "#x"), "sk": s("S" + sortKey)}
			if attr != "pk" {
				lek[attr] = s(part)
				lek[strings.TrimSuffix(attr, "pk")+"sk"] = s("k" + sortKey)
			}
			written, err := encodeCursor(lek)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := decodeCursor(written, attr, part); err != nil || !sameKey(back, lek) {
				t.Fatalf("%s: written cursor %q does not decode back (%v)", list, written, err)
			}
		}
	})
}

func sameKey(a, b map[string]av) bool {
	return maps.EqualFunc(a, b, func(x, y av) bool {
		xs, ok1 := x.(*types.AttributeValueMemberS)
		ys, ok2 := y.(*types.AttributeValueMemberS)
		return ok1 && ok2 && xs.Value == ys.Value
	})
}

// TestCursorOfEachList: the cursor of every list's LastEvaluatedKey (the table key
// plus, on an index, the index key) is accepted for the next page of that list.
func TestCursorOfEachList(t *testing.T) {
	for list, p := range listPartitions("acme", "evt_1") {
		t.Run(list, func(t *testing.T) {
			attr, part := p[0], p[1]
			lek := map[string]av{"pk": s("T#acme#D#dlv_1"), "sk": s("D"), attr: s(part), strings.TrimSuffix(attr, "pk") + "sk": s("dlv_1")}
			c, err := encodeCursor(lek)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeCursor(c, attr, part)
			if err != nil || !sameKey(got, lek) {
				t.Fatalf("decodeCursor = %v, %v; want the key back", got, err)
			}
		})
	}
}
