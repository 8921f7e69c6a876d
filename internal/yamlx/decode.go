package yamlx

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decoder decodes a document from Parse into a Go value strictly, guided
// by the fields' yaml tags: an unknown or repeated key, a value of the
// wrong shape and a scalar that does not parse are each a Problem, which
// the caller's Render turns into its own message (the dotted key a user
// reads in the documentation and its line), where yaml.Decoder.KnownFields
// would name a Go type. Berth's config.yml, policies file and sync.yml are
// all read through it.
//
// Values: structs (by yaml tag), maps with string keys, slices, pointers
// (allocated when set), strings, booleans (true/yes/on/1, false/no/off/0,
// in any case), integers, floats and time.Duration (a Go duration, "30s").
// A null leaves a struct as it was, makes a pointer to a struct point at
// one (a section present but empty), and zeroes anything else.
type Decoder struct {
	// Render makes the error of a problem. Required.
	Render func(p Problem) error
	// Hook, when set, is asked first about every value: handled reports
	// that it stored n into v itself (a type that also reads from a
	// scalar, a marker type); an error is a ProblemValue.
	Hook func(n *yaml.Node, v reflect.Value) (handled bool, err error)
	// Seen, when set, is told the dotted key of every value decoded and the
	// node of its key (for a list item, the item's node).
	Seen func(key string, at *yaml.Node)
	// Merge honours merge keys (<<: *anchor, <<: [*a, *b]): the merged
	// mappings' keys first, the mapping's own winning. Without it "<<" is
	// an unknown key.
	Merge bool
	// Limit is how many problems are collected before the walk stops; 0
	// stops at the first.
	Limit int
	// TooMany is added after Limit problems when more were found.
	TooMany error

	errs []error
	stop bool
}

// ProblemKind says what is wrong.
type ProblemKind int

// The kinds of Problem.
const (
	ProblemShape     ProblemKind = iota // the node is not what the type wants (Want)
	ProblemKeyName                      // a mapping key that is not a plain name
	ProblemUnknown                      // a key the struct does not have
	ProblemDuplicate                    // a key given twice
	ProblemValue                        // a scalar that does not parse (Err)
)

// Problem is one thing wrong with a document.
type Problem struct {
	Kind ProblemKind
	// Path is the dotted path of the value at fault ("rules[2].tags"), or
	// for a key problem the path of its mapping; "" is the top level.
	Path string
	// Key is the key at fault (ProblemUnknown, ProblemDuplicate).
	Key string
	// Node is where: the value, or the key for a key problem.
	Node *yaml.Node
	// Want is the type the value was decoded into.
	Want reflect.Type
	// Err is the scalar's parse error (ProblemValue).
	Err error
}

// Decode stores doc (a document or any node under it) into v, which must be
// addressable, and returns the problems found, rendered, joined one per
// line (errors.Join), or nil.
func (d *Decoder) Decode(doc *yaml.Node, path string, v reflect.Value) error {
	d.errs, d.stop = nil, false
	if err := d.decode(path, doc, v); err != nil && !errors.Is(err, errStopped) {
		d.add(err)
	}
	return errors.Join(d.errs...)
}

// add records a problem and reports whether the walk must stop.
func (d *Decoder) add(err error) bool {
	if d.stop {
		return true
	}
	d.errs = append(d.errs, err)
	if len(d.errs) > max(d.Limit, 1) || d.Limit == 0 {
		if d.Limit > 0 {
			d.errs = d.errs[:d.Limit]
			if d.TooMany != nil {
				d.errs = append(d.errs, d.TooMany)
			}
		}
		d.stop = true
	}
	return d.stop
}

// errStopped unwinds the walk once Limit problems are recorded.
var errStopped = errors.New("stopped")

func (d *Decoder) problem(p Problem) error { return d.Render(p) }

// decode stores node n, found at path, into v. It returns a problem that
// ends the value (its caller records it), or errStopped.
func (d *Decoder) decode(path string, n *yaml.Node, v reflect.Value) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return d.decode(path, n.Content[0], v)
	}
	if d.Hook != nil {
		handled, err := d.Hook(n, v)
		if err != nil {
			return d.problem(Problem{Kind: ProblemValue, Path: path, Node: n, Want: v.Type(), Err: err})
		}
		if handled {
			return nil
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		SetNull(v)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(path, n, v.Elem())
	case reflect.Struct:
		return d.decodeStruct(path, n, v)
	case reflect.Map:
		return d.decodeMap(path, n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.problem(Problem{Kind: ProblemShape, Path: path, Node: n, Want: v.Type()})
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			full := fmt.Sprintf("%s[%d]", path, i)
			if d.Seen != nil {
				d.Seen(full, item)
			}
			if err := d.decode(full, item, s.Index(i)); err != nil && d.add(err) {
				return errStopped
			}
		}
		v.Set(s)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.problem(Problem{Kind: ProblemShape, Path: path, Node: n, Want: v.Type()})
	}
	if err := SetScalar(v, n.Value); err != nil {
		return d.problem(Problem{Kind: ProblemValue, Path: path, Node: n, Want: v.Type(), Err: err})
	}
	return nil
}

func (d *Decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return d.problem(Problem{Kind: ProblemShape, Path: path, Node: n, Want: v.Type()})
	}
	if d.Merge {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "<<" {
				continue
			}
			merged := []*yaml.Node{n.Content[i+1]}
			if merged[0].Kind == yaml.SequenceNode {
				merged = merged[0].Content
			}
			for j := len(merged) - 1; j >= 0; j-- { // the first listed wins
				if err := d.decode(path, merged[j], v); err != nil {
					return err
				}
			}
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if d.Merge && k.Value == "<<" {
			continue
		}
		var err error
		idx, ok := FieldByTag(v.Type(), k.Value, false)
		switch {
		case k.Kind != yaml.ScalarNode:
			err = d.problem(Problem{Kind: ProblemKeyName, Path: path, Node: k, Want: v.Type()})
		case !ok:
			err = d.problem(Problem{Kind: ProblemUnknown, Path: path, Key: k.Value, Node: k, Want: v.Type()})
		case seen[k.Value]:
			err = d.problem(Problem{Kind: ProblemDuplicate, Path: path, Key: k.Value, Node: k, Want: v.Type()})
		default:
			seen[k.Value] = true
			full := Join(path, k.Value)
			if d.Seen != nil {
				d.Seen(full, k)
			}
			err = d.decode(full, val, v.Field(idx))
		}
		if err != nil && d.add(err) {
			return errStopped
		}
	}
	return nil
}

func (d *Decoder) decodeMap(path string, n *yaml.Node, v reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return d.problem(Problem{Kind: ProblemShape, Path: path, Node: n, Want: v.Type()})
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	if d.Merge && !v.IsNil() { // keep what merged mappings set
		for it := v.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), it.Value())
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return d.problem(Problem{Kind: ProblemKeyName, Path: path, Node: k, Want: v.Type()})
		}
		if seen[k.Value] {
			return d.problem(Problem{Kind: ProblemDuplicate, Path: path, Key: k.Value, Node: k, Want: v.Type()})
		}
		seen[k.Value] = true
		full := Join(path, k.Value)
		if d.Seen != nil {
			d.Seen(full, k)
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.decode(full, val, elem); err != nil {
			if d.add(err) {
				return errStopped
			}
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// SetNull gives v what a YAML null means: a present section with nothing in
// it (inmemory:), an absent optional value (ttl:), an empty list or map, an
// empty scalar. Sections that are structs keep what they hold.
func SetNull(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			return
		}
		v.SetZero()
	default:
		v.SetZero()
	}
}

// SetScalar parses s into v: a string, bool, integer, float or
// time.Duration, or a pointer to one. Its errors name the value but not
// the key.
func SetScalar(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		e := reflect.New(v.Type().Elem())
		if err := SetScalar(e.Elem(), s); err != nil {
			return err
		}
		v.Set(e)
		return nil
	}
	if v.Type() == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q, want a number with a unit, e.g. 30s, 5m, 168h", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, ok := parseBool(s)
		if !ok {
			return fmt.Errorf("invalid boolean %q, want true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	default:
		// Only reachable if a field of an unsupported type is added to a
		// decoded type; its tests decode every field.
		return fmt.Errorf("cannot decode %q into %s", s, v.Type())
	}
	return nil
}

// IsScalar reports whether values of t are written as one YAML scalar.
func IsScalar(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// FieldByTag finds the field of struct type t whose yaml tag is name
// (compared case-insensitively when fold is set, for environment
// variables).
func FieldByTag(t reflect.Type, name string, fold bool) (int, bool) {
	for i := range t.NumField() {
		tag := TagName(t.Field(i))
		if tag == "" || tag == "-" {
			continue
		}
		if tag == name || (fold && strings.EqualFold(tag, name)) {
			return i, true
		}
	}
	return 0, false
}

// TagName is the key of field f: its yaml tag without options.
func TagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// Keys lists the keys of struct type t, in field order.
func Keys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := TagName(t.Field(i)); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Join is path.key, or key at the top level.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
