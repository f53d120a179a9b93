package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

var rateCases = []Case{
	{"exactly limit per one-second window, under concurrency", func(t *testing.T, e Env) {
		tenant := e.Tenant
		sub := gancho.NewID(gancho.PrefixSubscription, time.Now())
		const (
			limit   = 7
			windows = 3
			perWin  = 30
		)
		base := time.Unix(time.Now().Unix(), 0)

		counts := make([][]int64, windows)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range windows {
			for i := range perWin {
				at := base.Add(time.Duration(w)*time.Second + time.Duration(i)*time.Millisecond*30)
				wg.Go(func() {
					<-start
					n, err := e.St.TakeRateToken(e.Ctx, tenant, sub, at)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					counts[w] = append(counts[w], n)
					mu.Unlock()
				})
			}
		}
		close(start)
		wg.Wait()
		for w, got := range counts {
			slices.Sort(got)
			granted := 0
			for i, n := range got {
				if n != int64(i+1) {
					t.Fatalf("window %d: counts %v, want 1..%d each once", w, got, perWin)
				}
				if n <= limit {
					granted++
				}
			}
			if granted != limit {
				t.Errorf("window %d granted %d, want %d", w, granted, limit)
			}
		}

	}},
	{"a window per tenant and subscription", func(t *testing.T, e Env) {
		at := time.Now()
		t1, t2 := TenantID(), TenantID()
		subA, subB := gancho.NewID(gancho.PrefixSubscription, at), gancho.NewID(gancho.PrefixSubscription, at)
		for _, k := range [][2]string{{t1, subA}, {t1, subA}, {t1, subA}} {
			if _, err := e.St.TakeRateToken(e.Ctx, k[0], k[1], at); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range [][2]string{{t1, subB}, {t2, subA}} {
			n, err := e.St.TakeRateToken(e.Ctx, k[0], k[1], at)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("tenant %s subscription %s: count %d, want a window of its own", k[0], k[1], n)
			}
		}
	}},
}
