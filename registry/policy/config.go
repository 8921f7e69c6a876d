package policy

import (
	"errors"
	"fmt"
)

// Config is the policies section of config.yml:
//
//	policies:
//	  file: /etc/berth/policies.yml # optional: the section lives there
//	  retention: ...                # retention.go
//	  immutable: [...]              # immutable.go
//	  quotas: [...]                 # quota.go
//
// With File set the other keys must be empty: the file holds them (the
// same keys, at its top level) and is re-read when it changes, like the
// access policy.
type Config struct {
	File      string          `yaml:"file"`
	Retention Retention       `yaml:"retention"`
	Immutable []ImmutableRule `yaml:"immutable,omitempty"`
	Quotas    []Quota         `yaml:"quotas,omitempty"`
}

// failFunc records a problem of the dotted key k (relative to the
// section); compile functions call it for each problem they find.
type failFunc func(k, format string, args ...any)

// Where says where a dotted key of the section was written, " (line 4)",
// or "" when unknown; errors append it.
type Where func(key string) string

// Set is a checked Config, ready for use. The zero Set (and a nil *Set)
// has no rules: nothing is immutable, there are no quotas and retention
// keeps everything.
type Set struct {
	retention *retentionSet
	immutable []immutableRule
	quotas    []quotaRule
}

// Compile checks c and returns its Set. prefix is the dotted key of the
// section in errors ("policies" in config.yml, "" in a policies file);
// where may be nil. Every problem is reported, one line each.
func Compile(c *Config, prefix string, where Where) (*Set, error) {
	if where == nil {
		where = func(string) string { return "" }
	}
	key := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	var errs []error
	var fail failFunc = func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", key(k), where(key(k)), fmt.Sprintf(format, args...)))
	}
	s := &Set{retention: compileRetention(&c.Retention, "retention", fail)}
	for i := range c.Immutable {
		if r, ok := compileImmutable(&c.Immutable[i], fmt.Sprintf("immutable[%d]", i), fail); ok {
			s.immutable = append(s.immutable, r)
		}
	}
	for i := range c.Quotas {
		if q, ok := compileQuota(&c.Quotas[i], fmt.Sprintf("quotas[%d]", i), fail); ok {
			q.Key = key(q.Key) // messages name the quota as written: policies.quotas[0]
			s.quotas = append(s.quotas, q)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Empty reports whether c configures nothing but, perhaps, File.
func (c *Config) Empty() bool {
	return c.Retention.empty() && len(c.Immutable) == 0 && len(c.Quotas) == 0
}
