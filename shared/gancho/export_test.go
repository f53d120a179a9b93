package gancho

import "time"

// SetStepHook makes checks against s call f with each value a schema is applied
// to; tests use it to hold a check in progress. Set it before s is shared.
func SetStepHook(s *Schema, f func(v any)) { s.onStep = f }

// SetCheckBudget changes the time budget of checks against s. Set it before s is
// shared.
func SetCheckBudget(s *Schema, d time.Duration) { s.budget = d }

// CompileSchemaWithin is CompileSchema with a compile budget of its own.
var CompileSchemaWithin = compileSchema
