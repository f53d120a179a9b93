//go:build race

package gancho

// The race detector makes code several times slower; builds with it (tests) scale
// the schema-check budgets so that they bound the same work.
func init() { budgetScale = 10 }
