package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

const (
	// MaxSize bounds a document, in bytes. Berth's own YAML files are a
	// few kilobytes; 4 MiB is what sync.yml was already limited to.
	MaxSize = 4 << 20

	// MaxDepth bounds the nesting of mappings and sequences, aliases
	// followed. The deepest key of config.yml is at depth 6; the
	// decoders recurse once per level.
	MaxDepth = 64

	// minBudget is the node budget of a short document.
	minBudget = 10_000
	// budgetPerByte is the node budget per byte of a longer document.
	budgetPerByte = 10
)

// ErrLimit is matched (errors.Is) by every error Parse returns because a
// document exceeds one of this package's bounds.
var ErrLimit = errors.New("yaml document beyond limits")

// ErrEmpty is returned by Parse for a document with no content (empty, or
// only comments).
var ErrEmpty = errors.New("empty document")

// limitError is an error about a bound; its text is the whole message (no
// ": yaml document beyond limits" suffix), and it matches ErrLimit.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrLimit }

func limitf(format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...)}
}

// Budget is how many nodes, aliases expanded, a document of size bytes
// may decode to: at least 10,000, else 10 per byte.
//
// Why 10 per byte: without aliases a document holds at most about one
// node per byte (a flow list "[a,b,c]" spends two bytes per scalar; an
// empty block item "-\n" two per null), so the budget never refuses a
// document that does not alias, and leaves it room to reuse anchors (a
// defaults mapping merged into every rule) many times over. What it
// refuses is the exponential case: the decoders' work stays linear in the
// bytes read, at most ten nodes per byte, where nested aliases would make
// it 10^9 nodes for 600 bytes. The floor keeps small hand-written files
// with a few anchors well clear of the bound.
func Budget(size int) int {
	return max(minBudget, budgetPerByte*size)
}

// Parse parses b, which must hold one YAML document, into its document
// node, after checking the bounds described in the package comment. It
// returns ErrEmpty for a document with no content, an error matching
// ErrLimit for one beyond the bounds, "more than one YAML document" for
// a stream of several, and yaml.v3's error for malformed YAML.
func Parse(b []byte) (*yaml.Node, error) {
	if len(b) > MaxSize {
		return nil, limitf("document is larger than %d bytes; refusing", MaxSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if err := Check(&doc, Budget(len(b))); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Decode is Parse followed by yaml.v3's decoding of b into v, with
// unknown keys refused (yaml.Decoder.KnownFields): for a reader content
// with yaml.v3's own messages ("line 3: field repos not found in type
// ..."). ErrEmpty leaves v as it was and is returned.
func Decode(b []byte, v any) (err error) {
	if _, err := Parse(b); err != nil {
		return err
	}
	// Parse checked the tree, so this second, linear parse decodes
	// within the budget. yaml.Node.Decode has no KnownFields, hence the
	// bytes rather than the node.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	defer func() {
		// yaml.v3 turns its own failures into errors but re-panics
		// runtime errors; Parse refuses the inputs known to cause one
		// (keys that are not scalars), and this keeps any other from
		// taking down the process that reads the file.
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml decoder failed: %v", r)
		}
	}()
	return dec.Decode(v)
}

// Check refuses a tree that, aliases expanded, has more than budget nodes
// or is nested deeper than MaxDepth, or in which an alias refers to a node
// that contains it (which yaml.v3 builds for "&a [*a]", and which a
// decoder would follow forever).
//
// Each node's expanded size and height are computed once and remembered,
// so Check itself takes time linear in the tree as parsed, not as
// expanded.
func Check(n *yaml.Node, budget int) error {
	c := checker{budget: budget, memo: map[*yaml.Node]measure{}}
	m, err := c.measure(n)
	if err != nil {
		return err
	}
	if m.nodes > budget {
		return c.tooMany()
	}
	return nil
}

// measure is what a node expands to: its nodes (itself included) and the
// height of its tree.
type measure struct {
	nodes, height int
	done          bool // false while the node's children are measured
}

type checker struct {
	budget int
	memo   map[*yaml.Node]measure
}

func (c *checker) tooMany() error {
	return limitf("document expands to more than %d nodes (aliases/merges); refusing", c.budget)
}

func (c *checker) measure(n *yaml.Node) (measure, error) {
	if m, ok := c.memo[n]; ok {
		if !m.done {
			return measure{}, limitf("line %d: alias refers to a node that contains it; refusing", n.Line)
		}
		return m, nil
	}
	c.memo[n] = measure{}
	var m measure
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return measure{}, limitf("line %d: alias to nothing", n.Line)
		}
		// The alias stands for the whole node it names, wherever it is
		// used: decoders expand it (and merge keys are aliases too).
		t, err := c.measure(n.Alias)
		if err != nil {
			return measure{}, err
		}
		m = t
	default:
		if n.Kind == yaml.MappingNode {
			if err := scalarKeys(n); err != nil {
				return measure{}, err
			}
		}
		m.nodes = 1
		for _, child := range n.Content {
			t, err := c.measure(child)
			if err != nil {
				return measure{}, err
			}
			m.nodes += t.nodes
			m.height = max(m.height, t.height)
			// Stop as soon as the budget is spent: the sums stay small
			// (no overflow however many aliases) and so does the work.
			if m.nodes > c.budget {
				return measure{}, c.tooMany()
			}
		}
		if n.Kind != yaml.DocumentNode && n.Kind != yaml.ScalarNode {
			m.height++
		}
		if m.height > MaxDepth {
			return measure{}, limitf("line %d: nested deeper than %d levels; refusing", n.Line, MaxDepth)
		}
	}
	m.done = true
	c.memo[n] = m
	return m, nil
}

// scalarKeys refuses a mapping with a list or a mapping as a key (YAML's
// "? [a, b]: c"). No file Berth reads has such keys, and yaml.v3 panics
// ("hash of unhashable type") when it merges (<<) into a mapping that has
// one.
func scalarKeys(n *yaml.Node) error {
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind == yaml.MappingNode || k.Kind == yaml.SequenceNode {
			return fmt.Errorf("line %d: a key must be a name, not a %s", n.Content[i].Line, kindName(k.Kind))
		}
	}
	return nil
}

func kindName(k yaml.Kind) string {
	if k == yaml.MappingNode {
		return "mapping"
	}
	return "list"
}
