package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree alongside the Config struct, guided by
// the fields' yaml tags, rather than using yaml.Decoder.KnownFields: that
// reports an unknown field by Go type and line, not by the dotted key a user
// reads in the documentation, and it cannot say which key a bad value
// belongs to.

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

var durationType = reflect.TypeFor[time.Duration]()

type decoder struct {
	origins origins
	env     string // set while decoding the value of an environment variable
	errs    []error
}

// maxDecodeErrors bounds how many problems one file reports.
const maxDecodeErrors = 20

var errTooMany = errors.New("config: more problems not shown")

// decodeAll decodes n into v and reports every problem found, one line
// each (errors.Join), so that a file with several mistakes is fixed in one
// pass. A key with a problem is skipped and the walk goes on.
func (d *decoder) decodeAll(key string, n *yaml.Node, v reflect.Value) error {
	if err := d.decode(key, n, v); err != nil && !errors.Is(err, errTooMany) {
		d.errs = append(d.errs, err)
	}
	if len(d.errs) > maxDecodeErrors {
		d.errs = append(d.errs[:maxDecodeErrors], errTooMany)
	}
	return errors.Join(d.errs...)
}

// add records err, the problem of one key, and says whether the walk must
// stop.
func (d *decoder) add(err error) error {
	if errors.Is(err, errTooMany) {
		return err
	}
	d.errs = append(d.errs, err)
	if len(d.errs) > maxDecodeErrors {
		return errTooMany
	}
	return nil
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

// decode stores node n, found at dotted key, into v, which is addressable.
func (d *decoder) decode(key string, n *yaml.Node, v reflect.Value) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return d.decode(key, n.Content[0], v)
	case yaml.AliasNode:
		return d.decode(key, n.Alias, v)
	}
	if v.Type() == unsupportedType {
		v.Set(reflect.ValueOf(Unsupported{Set: true}))
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		setNull(v)
		return nil
	}
	if s, ok := v.Addr().Interface().(scalarSetter); ok && n.Kind == yaml.ScalarNode {
		if err := s.setScalar(n.Value); err != nil {
			return d.errorf(key, n, "%v", err)
		}
		return nil
	}

	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(key, n, v.Elem())

	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return d.errorf(key, n, "want a mapping, got %s", describe(n))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			name := k.Value
			full := join(key, name)
			if k.Kind != yaml.ScalarNode {
				if err := d.add(d.errorf(key, k, "want a key name, got %s", describe(k))); err != nil {
					return err
				}
				continue
			}
			idx, ok := fieldByName(v.Type(), name, false)
			if !ok {
				if err := d.add(fmt.Errorf("config: unknown key %q (%s)", full, d.where(k))); err != nil {
					return err
				}
				continue
			}
			if seen[name] {
				if err := d.add(fmt.Errorf("config: duplicate key %q (%s)", full, d.where(k))); err != nil {
					return err
				}
				continue
			}
			seen[name] = true
			d.origins[full] = d.where(k)
			if err := d.decode(full, val, v.Field(idx)); err != nil {
				if err := d.add(err); err != nil {
					return err
				}
			}
		}
		return nil

	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errorf(key, n, "want a mapping, got %s", describe(n))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				return d.errorf(key, k, "want a key name, got %s", describe(k))
			}
			full := join(key, k.Value)
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				return fmt.Errorf("config: duplicate key %q (%s)", full, d.where(k))
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.origins[full] = d.where(k)
			if err := d.decode(full, val, elem); err != nil {
				if err := d.add(err); err != nil {
					return err
				}
				continue
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
		return nil

	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(key, n, "want a list, got %s", describe(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			full := fmt.Sprintf("%s[%d]", key, i)
			d.origins[full] = d.where(item)
			if err := d.decode(full, item, s.Index(i)); err != nil {
				if err := d.add(err); err != nil {
					return err
				}
			}
		}
		v.Set(s)
		return nil
	}

	if n.Kind != yaml.ScalarNode {
		return d.errorf(key, n, "want %s, got %s", scalarKind(v.Type()), describe(n))
	}
	if err := setScalar(v, n.Value); err != nil {
		return d.errorf(key, n, "%v", err)
	}
	return nil
}

// setNull gives v what a YAML null means: a present section with nothing in
// it (inmemory:), an absent optional value (ttl:), an empty list or map, an
// empty scalar. Sections that are structs keep their defaults.
func setNull(v reflect.Value) {
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

// setScalar parses s into v, a string, bool, integer or time.Duration (or a
// pointer to one). Its errors name the value but not the key.
func setScalar(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		e := reflect.New(v.Type().Elem())
		if err := setScalar(e.Elem(), s); err != nil {
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
	default:
		// Only reachable if a field of an unsupported type is added to
		// Config; the tests decode every field.
		return fmt.Errorf("cannot decode %q into %s", s, v.Type())
	}
	return nil
}

// isScalar reports whether values of t are written as one YAML scalar.
func isScalar(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
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

// fieldByName finds the field of struct type t whose yaml tag is name
// (compared case-insensitively when fold is set, for environment variables).
func fieldByName(t reflect.Type, name string, fold bool) (int, bool) {
	for i := range t.NumField() {
		tag := tagName(t.Field(i))
		if tag == name || (fold && strings.EqualFold(tag, name)) {
			return i, true
		}
	}
	return 0, false
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func join(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}
