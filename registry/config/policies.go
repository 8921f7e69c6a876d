package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/berth-registry/berth/internal/yamlx"
	"github.com/berth-registry/berth/registry/policy"
)

// validatePolicies compiles the policies section, unless it names a file:
// then the section must hold nothing else.
func (c *Config) validatePolicies(o origins) error {
	p := &c.Policies
	if p.File != "" {
		if !p.Empty() {
			return fmt.Errorf("config: policies%s: with policies.file set, the rules go in that file; remove the other keys", o.at("policies"))
		}
		return nil
	}
	if _, err := policy.Compile(p, "policies", o.at); err != nil {
		return prefixLines("config: ", err)
	}
	return nil
}

// PolicySet compiles the policies section when it holds the rules itself;
// it returns nil when they are in policies.file (see ParsePolicies).
// Validation has reported the section's problems, with their lines.
func (c *Config) PolicySet() (*policy.Set, error) {
	if c.Policies.File != "" {
		return nil, nil
	}
	return policy.Compile(&c.Policies, "policies", nil)
}

// ParsePolicies parses a policies file: the keys of the policies section
// (retention, immutable, quotas) at its top level, decoded as strictly as
// config.yml, every problem one line naming the key and its line.
func ParsePolicies(b []byte) (*policy.Set, error) {
	doc, err := yamlx.Parse(b)
	var c policy.Config
	switch {
	case errors.Is(err, yamlx.ErrEmpty):
		return policy.Compile(&c, "", nil)
	case errors.Is(err, yamlx.ErrLimit):
		return nil, err
	case err != nil:
		return nil, errors.New(oneLine(err.Error()))
	}
	o := origins{}
	d := decoder{origins: o}
	if err := d.decodeAll("", doc, reflect.ValueOf(&c).Elem()); err != nil {
		return nil, stripPrefix("config: ", err)
	}
	if c.File != "" {
		return nil, fmt.Errorf("file%s: a policies file cannot name another", o.at("file"))
	}
	return policy.Compile(&c, "", o.at)
}

// prefixLines puts prefix before each line of err.
func prefixLines(prefix string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	errs := make([]error, len(lines))
	for i, l := range lines {
		errs[i] = errors.New(prefix + l)
	}
	return errors.Join(errs...)
}

// stripPrefix removes prefix from the start of each line of err: the
// decoder's lines start with "config: ", which a policies file is not.
func stripPrefix(prefix string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	errs := make([]error, len(lines))
	for i, l := range lines {
		errs[i] = errors.New(strings.TrimPrefix(l, prefix))
	}
	return errors.Join(errs...)
}
