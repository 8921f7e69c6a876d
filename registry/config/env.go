package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/yamlx"
)

const envPrefix = "REGISTRY_"

type envVar struct{ name, value string }

// applyEnv applies the REGISTRY_* variables of env, Distribution style: the
// name after the prefix is the key path, upper-cased and joined by "_"
// (REGISTRY_STORAGE_DELETE_ENABLED is storage.delete.enabled), list items
// are addressed by index (REGISTRY_HTTP_TLS_CLIENTCAS_0) and the value is
// parsed like the key's value in a file: scalars taken as written, lists and
// mappings as YAML flow text (REGISTRY_HTTP_HEADERS_X-FOO='[bar]').
//
// Variables are applied in name order, so REGISTRY_STORAGE=s3 selects the
// driver before REGISTRY_STORAGE_S3_BUCKET fills it in.
//
// A variable under a known section (REGISTRY_HTTP_*, REGISTRY_STORAGE_*, ...)
// that names no key is an error: a typo must not silently fall back to a
// default. Variables whose first part is not a section are ignored, and so
// are the service-link variables Kubernetes injects for a Service whose
// name starts with "registry" (REGISTRY_PORT, REGISTRY_HTTP_SERVICE_HOST,
// REGISTRY_PORT_5000_TCP_ADDR, ...); no configuration key has a "service"
// or "port" part, so nothing is lost.
func (c *Config) applyEnv(env []string, o origins) error {
	var vars []envVar
	for _, e := range env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || len(name) == len(envPrefix) {
			continue
		}
		vars = append(vars, envVar{name, value})
	}
	slices.SortStableFunc(vars, func(a, b envVar) int { return strings.Compare(a.name, b.name) })

	root := reflect.ValueOf(c).Elem()
	for _, e := range vars {
		path := strings.Split(e.name[len(envPrefix):], "_")
		if _, ok := yamlx.FieldByTag(root.Type(), path[0], true); !ok || serviceLink(path) {
			continue
		}
		s := envSetter{name: e.name, value: e.value, origins: o}
		if err := s.set("", root, path); err != nil {
			return err
		}
	}
	return nil
}

// serviceLink reports whether path has the shape of a Kubernetes service
// link variable: <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT[_<NAME>],
// <SVC>_PORT, <SVC>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR].
func serviceLink(path []string) bool {
	for i := 1; i < len(path); i++ {
		rest := path[i+1:]
		switch path[i] {
		case "SERVICE":
			if len(rest) > 0 && (rest[0] == "HOST" || rest[0] == "PORT") {
				return true
			}
		case "PORT":
			if len(rest) == 0 {
				return true
			}
			if len(rest) >= 2 && isDigits(rest[0]) && (rest[1] == "TCP" || rest[1] == "UDP" || rest[1] == "SCTP") {
				return true
			}
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// envSetter applies one environment variable.
type envSetter struct {
	name, value string
	origins     origins
}

func (s *envSetter) from() string { return "from " + s.name }

// set walks path from v, found at dotted key, and stores the value at its
// end.
func (s *envSetter) set(key string, v reflect.Value, path []string) error {
	if key != "" {
		if _, ok := s.origins[key]; !ok || len(path) == 0 {
			s.origins[key] = s.from()
		}
	}
	if v.Type() == unsupportedType { // whatever is below, it is configured
		v.Set(reflect.ValueOf(Unsupported{Set: true}))
		return nil
	}
	if len(path) == 0 {
		return s.store(key, v)
	}
	seg := path[0]

	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			return s.set(key, v.Elem(), path)
		}

	case reflect.Struct:
		idx, ok := yamlx.FieldByTag(v.Type(), seg, true)
		if !ok {
			return s.unknown(join(key, strings.ToLower(seg)))
		}
		return s.set(join(key, tagName(v.Type().Field(idx))), v.Field(idx), path[1:])

	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		// Reuse the spelling of a key the file already has; environment
		// variable names are upper-case, map keys usually are not.
		mk := strings.ToLower(seg)
		for _, k := range v.MapKeys() {
			if strings.EqualFold(k.String(), seg) {
				mk = k.String()
				break
			}
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(reflect.ValueOf(mk)); old.IsValid() {
			elem.Set(old)
		}
		if err := s.set(join(key, mk), elem, path[1:]); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(mk), elem)
		return nil

	case reflect.Slice:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i > v.Len() {
			return fmt.Errorf("config: %s: invalid list index %q, want 0 to %d (%s)", key, seg, v.Len(), s.from())
		}
		if i == v.Len() {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		}
		return s.set(fmt.Sprintf("%s[%d]", key, i), v.Index(i), path[1:])
	}
	// A scalar has no keys below it.
	return s.unknown(join(key, strings.ToLower(seg)))
}

func (s *envSetter) unknown(key string) error {
	return fmt.Errorf("config: unknown key %q (%s)", key, s.from())
}

// store sets v, found at key, from the variable's value.
func (s *envSetter) store(key string, v reflect.Value) error {
	if setter, ok := v.Addr().Interface().(scalarSetter); ok {
		if err := setter.setScalar(s.value); err != nil {
			return fmt.Errorf("config: %s: %v (%s)", key, err, s.from())
		}
		return nil
	}
	if isScalar(v.Type()) {
		if err := setScalar(v, s.value); err != nil {
			return fmt.Errorf("config: %s: %v (%s)", key, err, s.from())
		}
		return nil
	}
	doc, err := yamlx.Parse([]byte(s.value))
	if errors.Is(err, yamlx.ErrEmpty) { // an empty value is YAML null
		yamlx.SetNull(v)
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %s: invalid value %q: %s (%s)", key, s.value, oneLine(err.Error()), s.from())
	}
	d := decoder{origins: s.origins, env: s.name}
	return d.decodeAll(key, doc, v)
}
