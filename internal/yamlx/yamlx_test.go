package yamlx

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// mergeBomb is a document of levels mappings, each merging the one before
// ten times: 10^levels mappings once expanded, in about 60 bytes a level.
func mergeBomb(levels int) []byte {
	var b strings.Builder
	b.WriteString("m0: &m0 {a: 1}\n")
	for i := 1; i <= levels; i++ {
		refs := strings.Repeat(fmt.Sprintf("*m%d,", i-1), 10)
		fmt.Fprintf(&b, "m%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(refs, ","))
	}
	return []byte(b.String())
}

func TestParseRefusesMergeBomb(t *testing.T) {
	// 30 levels would be 10^30 nodes: the check must not expand them.
	for _, levels := range []int{9, 30} {
		doc := mergeBomb(levels)
		_, err := Parse(doc)
		want := fmt.Sprintf("document expands to more than %d nodes (aliases/merges); refusing", Budget(len(doc)))
		if !errors.Is(err, ErrLimit) || err.Error() != want {
			t.Errorf("Parse(%d levels, %d bytes) = %v, want %q", levels, len(doc), err, want)
		}
	}
	if _, err := Parse(mergeBomb(2)); err != nil {
		t.Errorf("Parse(2 levels) = %v, want it accepted", err)
	}
}

func TestCheckCountsAliases(t *testing.T) {
	// document, mapping, 3 keys, and the list of 2 (3 nodes) three times.
	const doc = "a: &a [x, y]\nb: *a\nc: *a\n"
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	if err := Check(&n, 14); err != nil {
		t.Errorf("Check(budget 14) = %v, want nil", err)
	}
	if err := Check(&n, 13); !errors.Is(err, ErrLimit) {
		t.Errorf("Check(budget 13) = %v, want ErrLimit", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // substring; "" for ErrEmpty
	}{
		{"empty", "", ""},
		{"comment only", "# nothing\n", ""},
		{"self alias", "a: &a [*a]\n", "alias refers to a node that contains it"},
		{"self merge", "a: &a {<<: *a}\n", "alias refers to a node that contains it"},
		{"deep lists", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), "nested deeper than 64 levels"},
		{"deep through aliases", "a: &a " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nb: " + strings.Repeat("[", 30) + "*a" + strings.Repeat("]", 30), "nested deeper than 64 levels"},
		{"too large", "a: " + strings.Repeat("x", MaxSize), "larger than 4194304 bytes"},
		{"two documents", "a: 1\n---\nb: 2\n", "more than one YAML document"},
		{"syntax", "a: [\n", "did not find expected node content"},
		{"list as a key", "? [a, b]\n: c\n", "line 1: a key must be a name, not a list"},
		{"mapping as a key through an alias", "a: &m {x: 1}\nb: {*m : 2}\n", "line 2: a key must be a name, not a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if tt.want == "" {
				if !errors.Is(err, ErrEmpty) {
					t.Fatalf("Parse = %v, want ErrEmpty", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseAcceptsDenseDocuments(t *testing.T) {
	// The densest documents without aliases decode within the budget: it
	// only refuses what aliases multiply. (Density does not depend on
	// size; 256 KiB keeps yaml.v3's parse short.)
	const size = 256 << 10
	docs := map[string]string{
		"flow list":   "[" + strings.TrimSuffix(strings.Repeat("a,", size/2-1), ",") + "]",
		"block nulls": strings.Repeat("-\n", size/2),
		"flow keys":   "{" + strings.TrimSuffix(strings.Repeat("a,", size/2-1), ",") + "}",
	}
	for name, doc := range docs {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("Parse(%s, %d bytes) = %v", name, len(doc), err)
		}
	}
}

func TestDecodeKnownFields(t *testing.T) {
	var v struct {
		A []int `yaml:"a"`
	}
	if err := Decode([]byte("a: &x [1, 2]\n"), &v); err != nil || len(v.A) != 2 {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	if err := Decode([]byte("b: 1\n"), &v); err == nil || !strings.Contains(err.Error(), "field b not found") {
		t.Fatalf("Decode(unknown key) = %v, want yaml.v3's field not found", err)
	}
	if err := Decode(mergeBomb(9), &v); !errors.Is(err, ErrLimit) {
		t.Fatalf("Decode(merge bomb) = %v, want ErrLimit", err)
	}
}
