package emulators

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeTemplate turns CloudFormation YAML (or JSON, a subset of YAML) into
// generic values: map[string]any, []any, string and nil. Scalars stay strings,
// as CloudFormation itself accepts "5" and 5 alike. Short-form intrinsics are
// rewritten to their long form, so `!GetAtt Q.Arn` becomes
// map{"Fn::GetAtt": []any{"Q", "Arn"}} and `!Ref X` becomes map{"Ref": "X"}.
func decodeTemplate(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("parse yaml: empty document")
	}
	v, err := nodeValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse yaml: top level is not a mapping")
	}
	return m, nil
}

func nodeValue(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return nodeValue(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return intrinsicValue(n)
	}
	return plainValue(n)
}

func plainValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		return mappingValue(n)
	case yaml.SequenceNode:
		return sequenceValue(n)
	case yaml.ScalarNode:
		return scalarValue(n), nil
	default:
		return nil, fmt.Errorf("line %d: unexpected yaml node kind %d", n.Line, n.Kind)
	}
}

func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		return strings.ToLower(n.Value)
	default:
		return n.Value
	}
}

func mappingValue(n *yaml.Node) (map[string]any, error) {
	m := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		v, err := nodeValue(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		m[n.Content[i].Value] = v
	}
	return m, nil
}

func sequenceValue(n *yaml.Node) ([]any, error) {
	s := make([]any, 0, len(n.Content))
	for _, c := range n.Content {
		v, err := nodeValue(c)
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

// intrinsicValue rewrites a short-form intrinsic (`!Name value`) to its long form.
func intrinsicValue(n *yaml.Node) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	inner := *n
	inner.Tag = ""
	inner.Style &^= yaml.TaggedStyle
	v, err := plainValue(&inner)
	if err != nil {
		return nil, err
	}
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			id, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want LogicalId.Attribute", n.Line, s)
			}
			v = []any{id, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}
