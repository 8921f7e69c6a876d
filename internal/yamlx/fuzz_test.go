package yamlx

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// naiveCount counts the nodes of n with every alias expanded, the way a
// decoder walks them, without memoizing: the reference Check's memoized
// count is compared with. It stops once the count passes limit, and
// reports a cycle.
func naiveCount(n *yaml.Node, limit int, onPath map[*yaml.Node]bool) (count int, cycle bool) {
	if onPath[n] {
		return 0, true
	}
	onPath[n] = true
	defer delete(onPath, n)
	if n.Kind == yaml.AliasNode {
		return naiveCount(n.Alias, limit, onPath)
	}
	count = 1
	for _, c := range n.Content {
		k, cyc := naiveCount(c, limit-count, onPath)
		count += k
		if cyc || count > limit {
			return count, cyc
		}
	}
	return count, false
}

// FuzzParse: Parse never panics, and it accepts a document exactly when
// the document's tree, aliases expanded, holds no cycle and at most
// Budget nodes, as a plain walk counts them.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a: &a [x, y]\nb: *a\nc: {<<: *a}\n",
		string(mergeBomb(4)),
		"a: &a [*a]\n",
		"- &x {a: 1}\n- <<: [*x, *x]\n  b: 2\n",
		"[[[[[[[[[[]]]]]]]]]]",
		"%YAML 1.2\n---\na: !!binary aGVsbG8=\n",
		"a: 1\n---\nb: 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Parse(b)
		if err != nil && !errors.Is(err, ErrLimit) {
			return // not YAML, empty, or several documents
		}
		if err != nil && !strings.Contains(err.Error(), "nodes (aliases/merges)") {
			return // refused for size or depth: nothing to compare
		}
		var n yaml.Node
		if yaml.Unmarshal(b, &n) != nil {
			t.Fatalf("Parse judged %q, which yaml.v3 cannot parse", b)
		}
		budget := Budget(len(b))
		count, cycle := naiveCount(&n, budget, map[*yaml.Node]bool{})
		switch {
		case err == nil && (cycle || count > budget):
			t.Fatalf("Parse accepted %q: %d nodes expanded (cycle %v), budget %d", b, count, cycle, budget)
		case err != nil && count <= budget && !cycle:
			t.Fatalf("Parse refused %q (%v), whose %d expanded nodes are within %d", b, err, count, budget)
		}
		_ = doc
	})
}
