package benchdoc

import "testing"

// TestReplace replaces the named section and nothing else.
func TestReplace(t *testing.T) {
	const section = "## Cost\n\nnew\n"
	tests := []struct{ name, old, want string }{
		{"no file", "", "# Benchmarks\n\n## Cost\n\nnew\n"},
		{"no section", "# Benchmarks\n\n## Throughput\n\nx\n", "# Benchmarks\n\n## Throughput\n\nx\n\n## Cost\n\nnew\n"},
		{"last section", "# B\n\n## Cost\n\nold\nold\n", "# B\n\n## Cost\n\nnew\n"},
		{"middle section", "# B\n\n## Cost\n\nold\n\n## Throughput\n\nx\n", "# B\n\n## Cost\n\nnew\n\n## Throughput\n\nx\n"},
		{"subsections go with it", "# B\n\n## Cost\n\n### Prices\n\nold\n## Z\n", "# B\n\n## Cost\n\nnew\n\n## Z\n"},
		{"a heading that only starts the same", "# B\n\n## Cost model\n\nx\n", "# B\n\n## Cost model\n\nx\n\n## Cost\n\nnew\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Replace(tc.old, "## Cost", section); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
