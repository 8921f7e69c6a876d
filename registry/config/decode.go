package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/yamlx"
	"gopkg.in/yaml.v3"
)

// origins records where each key's value came from, "line 4" or
// "from REGISTRY_HTTP_ADDR", so that validation errors can point at it.
type origins map[string]string

// at is the " (line 4)" suffix of an error about key, or "".
func (o origins) at(key string) string {
	if w := o[key]; w != "" {
		return " (" + w + ")"
	}
	return ""
}

// scalarSetter is implemented by sections that also accept a plain scalar
// (storage: inmemory).
type scalarSetter interface {
	setScalar(string) error
}

// decoder decodes config.yml (and a policies file, and the YAML value of
// a REGISTRY_* variable) through yamlx.Decoder, and words its problems:
// "config: KEY: PROBLEM (line N)", or "(from REGISTRY_X)" for a variable.
type decoder struct {
	origins origins
	env     string // set while decoding the value of an environment variable
}

// maxDecodeErrors bounds how many problems one file reports.
const maxDecodeErrors = 20

var errTooMany = errors.New("config: more problems not shown")

// Names this package (and its tests) use for yamlx's.
var (
	durationType = reflect.TypeFor[time.Duration]()
	tagName      = yamlx.TagName
	join         = yamlx.Join
	isScalar     = yamlx.IsScalar
	setScalar    = yamlx.SetScalar
)

// decodeAll decodes n into v and reports every problem found, one line
// each (errors.Join), so that a file with several mistakes is fixed in one
// pass. A key with a problem is skipped and the walk goes on. config.yml
// has no merge keys: "<<" is an unknown key.
func (d *decoder) decodeAll(key string, n *yaml.Node, v reflect.Value) error {
	yd := yamlx.Decoder{
		Render:  d.render,
		Hook:    d.hook,
		Seen:    func(key string, at *yaml.Node) { d.origins[key] = d.where(at) },
		Limit:   maxDecodeErrors,
		TooMany: errTooMany,
	}
	return yd.Decode(n, key, v)
}

// hook decodes the types with a form of their own: Unsupported (any value
// marks the key as set) and sections that also accept a plain scalar.
func (d *decoder) hook(n *yaml.Node, v reflect.Value) (bool, error) {
	if v.Type() == unsupportedType {
		v.Set(reflect.ValueOf(Unsupported{Set: true}))
		return true, nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return false, nil
	}
	if s, ok := v.Addr().Interface().(scalarSetter); ok {
		return true, s.setScalar(n.Value)
	}
	return false, nil
}

func (d *decoder) render(p yamlx.Problem) error {
	switch p.Kind {
	case yamlx.ProblemUnknown:
		return fmt.Errorf("config: unknown key %q (%s)", join(p.Path, p.Key), d.where(p.Node))
	case yamlx.ProblemDuplicate:
		return fmt.Errorf("config: duplicate key %q (%s)", join(p.Path, p.Key), d.where(p.Node))
	case yamlx.ProblemKeyName:
		return d.errorf(p.Path, p.Node, "want a key name, got %s", describe(p.Node))
	case yamlx.ProblemValue:
		return d.errorf(p.Path, p.Node, "%v", p.Err)
	}
	switch p.Want.Kind() {
	case reflect.Struct, reflect.Map:
		return d.errorf(p.Path, p.Node, "want a mapping, got %s", describe(p.Node))
	case reflect.Slice:
		return d.errorf(p.Path, p.Node, "want a list, got %s", describe(p.Node))
	}
	return d.errorf(p.Path, p.Node, "want %s, got %s", scalarKind(p.Want), describe(p.Node))
}

func (d *decoder) where(n *yaml.Node) string {
	if d.env != "" {
		return "from " + d.env
	}
	return fmt.Sprintf("line %d", n.Line)
}

func (d *decoder) errorf(key string, n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key == "" {
		return fmt.Errorf("config: %s (%s)", msg, d.where(n))
	}
	return fmt.Errorf("config: %s: %s (%s)", key, msg, d.where(n))
}

func scalarKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() == reflect.String:
		return "a string"
	}
	return "an integer"
}

// describe names what a node holds, for "want X, got Y" errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return describe(n.Alias)
	}
	return strconv.Quote(n.Value)
}
