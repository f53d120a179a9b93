package emulators

import (
	"fmt"
	"strings"
)

// Defaults for pseudo parameters that Pseudo leaves empty. The account id is
// the one the emulators put in their ARNs.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
)

// Name is a resource name as the template writes it, kept as an Fn::Sub
// pattern: a literal name is a pattern without variables, and template
// parameters are already replaced by their defaults. What remains are
// pseudo parameters such as ${AWS::StackName}.
type Name struct {
	Pattern string
}

// Pseudo holds the values of the CloudFormation pseudo parameters a name may use.
type Pseudo struct {
	StackName string
	Region    string // DefaultRegion when empty
	AccountID string // DefaultAccountID when empty
}

func (p Pseudo) value(name string) (string, bool) {
	switch name {
	case "AWS::StackName":
		return p.StackName, p.StackName != ""
	case "AWS::Region":
		return orDefault(p.Region, DefaultRegion), true
	case "AWS::AccountId":
		return orDefault(p.AccountID, DefaultAccountID), true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	default:
		return "", false
	}
}

// Resolve returns the name with its pseudo parameters replaced.
func (n Name) Resolve(p Pseudo) (string, error) {
	return expandSub(n.Pattern, true, func(v string) (string, error) {
		if s, ok := p.value(v); ok {
			return s, nil
		}
		return "", fmt.Errorf("name %q: cannot resolve ${%s}", n.Pattern, v)
	})
}

// name turns a TableName or QueueName property into a Name.
// It understands literals, !Ref, !Sub (both forms) and !Join.
func (p parser) name(v any) (*Name, error) {
	if v == nil {
		return nil, nil
	}
	pattern, err := p.pattern(v)
	if err != nil {
		return nil, err
	}
	return &Name{Pattern: pattern}, nil
}

func (p parser) pattern(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return escapeSub(x), nil
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			return p.refPattern(ref)
		}
		if sub, ok := x["Fn::Sub"]; ok {
			return p.subPattern(sub)
		}
		if join, ok := x["Fn::Join"]; ok {
			return p.joinPattern(join)
		}
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

func (p parser) refPattern(ref string) (string, error) {
	if d, ok := p.params[ref]; ok {
		return escapeSub(d), nil
	}
	if strings.HasPrefix(ref, "AWS::") {
		return "${" + ref + "}", nil
	}
	return "", fmt.Errorf("!Ref %s: not a parameter with a default", ref)
}

// subPattern handles `!Sub "text"` and `!Sub ["text", {Var: value}]`.
func (p parser) subPattern(v any) (string, error) {
	text, vars := v, map[string]any{}
	if list, ok := v.([]any); ok && len(list) == 2 {
		text = list[0]
		vars, _ = list[1].(map[string]any)
	}
	s, ok := text.(string)
	if !ok {
		return "", fmt.Errorf("!Sub: want a string, got %T", text)
	}
	return expandSub(s, false, func(name string) (string, error) {
		if val, ok := vars[name]; ok {
			return p.pattern(val)
		}
		if strings.HasPrefix(name, "AWS::") {
			return "${" + name + "}", nil
		}
		return p.refPattern(name)
	})
}

func (p parser) joinPattern(v any) (string, error) {
	list, ok := v.([]any)
	if !ok || len(list) != 2 {
		return "", fmt.Errorf("!Join: want [separator, [values]]")
	}
	sep, _ := list[0].(string)
	parts, ok := list[1].([]any)
	if !ok {
		return "", fmt.Errorf("!Join: want a list of values")
	}
	out := make([]string, 0, len(parts))
	for _, part := range parts {
		s, err := p.pattern(part)
		if err != nil {
			return "", fmt.Errorf("!Join: %w", err)
		}
		out = append(out, s)
	}
	return strings.Join(out, escapeSub(sep)), nil
}

// escapeSub makes a literal safe to embed in an Fn::Sub pattern.
func escapeSub(s string) string {
	return strings.ReplaceAll(s, "${", "${!")
}

// expandSub replaces each ${var} of an Fn::Sub pattern with repl(var).
// ${!text} escapes are kept, or turned into the literal ${text} when
// unescape is set.
func expandSub(pattern string, unescape bool, repl func(string) (string, error)) (string, error) {
	var b strings.Builder
	rest := pattern
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", pattern)
		}
		b.WriteString(rest[:i])
		v := rest[i+2 : i+j]
		switch {
		case strings.HasPrefix(v, "!") && unescape:
			b.WriteString("${" + v[1:] + "}")
		case strings.HasPrefix(v, "!"):
			b.WriteString(rest[i : i+j+1])
		default:
			s, err := repl(v)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		}
		rest = rest[i+j+1:]
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ResolvedName returns the table's name in the stack: its TableName, or
// StackName-LogicalId when the template sets none (gancho-local-GanchoTable).
func (t Table) ResolvedName(p Pseudo) (string, error) {
	if t.TableName != nil {
		return t.TableName.Resolve(p)
	}
	if p.StackName == "" {
		return "", fmt.Errorf("table %s: stack name is empty", t.LogicalID)
	}
	return p.StackName + "-" + t.LogicalID, nil
}

// ResolvedName returns the queue's name in the stack: its QueueName, or
// stackname-logicalid in lower case when the template sets none, with the
// .fifo suffix SQS requires for FIFO queues.
func (q Queue) ResolvedName(p Pseudo) (string, error) {
	if q.QueueName != nil {
		return q.QueueName.Resolve(p)
	}
	if p.StackName == "" {
		return "", fmt.Errorf("queue %s: stack name is empty", q.LogicalID)
	}
	name := strings.ToLower(p.StackName + "-" + q.LogicalID)
	if q.Fifo() {
		name += ".fifo"
	}
	return name, nil
}
