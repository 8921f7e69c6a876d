package mirror

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/yamlx"
)

// Config is a sync.yml: rules that copy images from a source to a
// destination, and limits per registry. Read it with ParseConfig or
// LoadConfig, which check every key and value; Sync checks a config
// built in code the same way.
type Config struct {
	Version  int      `yaml:"version"` // 1 (or left out)
	Defaults Defaults `yaml:"defaults"`
	// Registries holds the limits of each registry host ("docker.io",
	// "registry.example.com:5000"); others get the defaults of
	// Registry.
	Registries map[string]Registry `yaml:"registries"`
	Rules      []Rule              `yaml:"rules"`

	lines []int // line of each rule in the file, for messages
}

// Defaults apply to every rule that does not set its own.
type Defaults struct {
	Schedule  string `yaml:"schedule"`
	Platforms List   `yaml:"platforms"`
	Referrers *bool  `yaml:"referrers"`
	// Tags applies to the rules with a repository or prefix source and
	// no tags of their own.
	Tags *Tags `yaml:"tags"`
}

// Registry limits what sync asks of one registry, across all rules
// that run at once.
type Registry struct {
	// Concurrency bounds the blobs moving to or from the registry at once
	// (default DefaultConcurrency); a rule copies that many images at
	// once at most.
	Concurrency int `yaml:"concurrency"`
	// RPS bounds the requests per second (0: no bound), with bursts of
	// Burst requests (default: RPS rounded up, at least 1).
	RPS   float64 `yaml:"rps"`
	Burst int     `yaml:"burst"`
	// Insecure allows plain HTTP to the registry (loopback always is).
	Insecure bool `yaml:"insecure"`
}

// Rule copies images from Source to Destination.
//
// Source is an image ("reg/repo:tag" or "reg/repo@digest"), a repository
// ("reg/repo": its tags), or a registry prefix ("reg/team/*", "reg/*":
// the repositories the catalog lists under it); or, prefixed with
// "local:", the same names in the host's store ("local" alone is every
// image of the store).
//
// Destination is "local" (the host's store, under the source's names), or
// a registry: an image ("reg/repo:tag", for an image source), a
// repository ("reg/repo", for an image or repository source: the tags stay
// the same), or a prefix ("reg/mirror/*": the source's repository path is
// appended, relative to a source prefix).
type Rule struct {
	Name        string `yaml:"name"` // default "SOURCE -> DESTINATION"
	Source      string `yaml:"source"`
	Destination string `yaml:"destination"`
	Tags        Tags   `yaml:"tags"`
	// Platforms is "all" or a list of os/arch[/variant]. Default: all for
	// a registry destination, the host's platform for the store.
	Platforms List `yaml:"platforms"`
	// Referrers copies the manifests whose subject is a copied image
	// (signatures, SBOMs), between registries. Default true.
	Referrers *bool `yaml:"referrers"`
	// Schedule is for the daemon: an interval ("30m"), a macro ("@daily")
	// or a five-field cron expression ("0 3 * * *"). Default: run once
	// when the daemon starts.
	Schedule string `yaml:"schedule"`
}

// Tags selects the tags of a repository; the steps apply in this
// order, and leaving all out selects every tag.
type Tags struct {
	Allow  List   `yaml:"allow"`  // regular expressions (unanchored); a tag must match one
	Deny   List   `yaml:"deny"`   // regular expressions; a tag matching one is dropped
	Semver string `yaml:"semver"` // a range such as ">=1.2 <2"; other tags are dropped
	Newest int    `yaml:"newest"` // keep only the newest N
	Order  string `yaml:"order"`  // what newest means: OrderSemver (default) or OrderTag
}

// List is a list of strings; in YAML a single string may stand alone.
type List []string

// maxSyncConfigSize bounds sync.yml: what yamlx parses.
const maxSyncConfigSize = yamlx.MaxSize

// LoadConfig reads and checks the sync.yml at path. Errors wrap
// errdefs.ErrInvalid, naming the key and line at fault.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sync config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSyncConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("sync config %s: %w", path, err)
	}
	if len(b) > maxSyncConfigSize {
		return nil, fmt.Errorf("sync config %s: larger than %d bytes: %w", path, maxSyncConfigSize, errdefs.ErrInvalid)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads a sync.yml and checks it: an unknown or repeated
// key, a value of the wrong type, or a value that does not parse (a
// source, a regular expression, a semver range, a platform, a schedule) is
// an error wrapping errdefs.ErrInvalid that names the key, e.g.
// `rules[1].tags: unknown key "alow" (line 7); known: allow, deny, ...`.
func ParseConfig(data []byte) (*Config, error) {
	doc, err := yamlx.Parse(data)
	if err != nil {
		if errors.Is(err, yamlx.ErrEmpty) {
			return nil, fmt.Errorf("sync config: empty: %w", errdefs.ErrInvalid)
		}
		return nil, fmt.Errorf("sync config: %w: %w", err, errdefs.ErrInvalid)
	}
	cfg := &Config{}
	if err := decodeStrict(doc, "", reflect.ValueOf(cfg).Elem()); err != nil {
		return nil, fmt.Errorf("sync config: %v: %w", err, errdefs.ErrInvalid)
	}
	if rules := mappingValue(doc.Content[0], "rules"); rules != nil && rules.Kind == yaml.SequenceNode {
		for _, r := range rules.Content {
			cfg.lines = append(cfg.lines, r.Line)
		}
	}
	if _, err := cfg.compile(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// mappingValue returns the value of key in the mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decodeStrict decodes n into v through yamlx.Decoder, merge keys
// honoured, stopping at the first problem: an unknown or repeated key,
// or a value of the wrong type, is an error that names the path of the
// key at fault (rules[2].tags.newest) and its line. A List may be written
// as one string.
func decodeStrict(n *yaml.Node, path string, v reflect.Value) error {
	d := yamlx.Decoder{Render: renderProblem, Hook: listHook, Merge: true}
	return d.Decode(n, path, v)
}

func listHook(n *yaml.Node, v reflect.Value) (bool, error) {
	if v.Type() == reflect.TypeFor[List]() && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v.Set(reflect.ValueOf(List{n.Value}))
		return true, nil
	}
	return false, nil
}

func renderProblem(p yamlx.Problem) error {
	where := orTop(p.Path)
	at := func(format string, args ...any) error {
		return fmt.Errorf("%s (line %d): %s", where, p.Node.Line, fmt.Sprintf(format, args...))
	}
	switch p.Kind {
	case yamlx.ProblemUnknown:
		return fmt.Errorf("%s: unknown key %q (line %d); known: %s", where, p.Key, p.Node.Line, strings.Join(yamlx.Keys(p.Want), ", "))
	case yamlx.ProblemDuplicate:
		return fmt.Errorf("%s: key %q given twice (line %d)", where, p.Key, p.Node.Line)
	case yamlx.ProblemKeyName:
		return at("want a key name")
	case yamlx.ProblemValue:
		return at("%q is not %s", p.Node.Value, kindName(p.Want.Kind()))
	}
	switch p.Want.Kind() {
	case reflect.Struct:
		return at("want a mapping of keys (%s)", strings.Join(yamlx.Keys(p.Want), ", "))
	case reflect.Map:
		return at("want a mapping")
	case reflect.Slice:
		return at("want a list")
	}
	return at("want %s, not a %s", kindName(p.Want.Kind()), nodeKindName(p.Node.Kind))
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return k.String()
}

func nodeKindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// ruleWhere names rule i in messages: rules[i], its line, its name.
func (c *Config) ruleWhere(i int) string {
	s := fmt.Sprintf("rules[%d]", i)
	if i < len(c.lines) {
		s += fmt.Sprintf(" (line %d)", c.lines[i])
	}
	if n := c.Rules[i].Name; n != "" {
		s += fmt.Sprintf(" %q", n)
	}
	return s
}

// RuleNames lists the rules' names, in order (see Rule.Name).
func (c *Config) RuleNames() []string {
	var names []string
	for _, r := range c.Rules {
		names = append(names, ruleName(r))
	}
	return names
}

func ruleName(r Rule) string {
	if r.Name != "" {
		return r.Name
	}
	return strings.TrimSpace(r.Source) + " -> " + strings.TrimSpace(r.Destination)
}
