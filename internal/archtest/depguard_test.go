package archtest

import (
	"bytes"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

// The linter (make lint, .golangci.yml) checks the same import rules with
// depguard, so that an editor shows a broken rule where the import is
// written. Its rules are these translated; TestDepguardAgrees holds the two
// together and, when they differ, prints the rules to paste.

// depguardRule is one list of linters.settings.depguard.rules.
type depguardRule struct {
	ListMode string         `yaml:"list-mode"`
	Files    []string       `yaml:"files"`
	Allow    []string       `yaml:"allow,omitempty"`
	Deny     []depguardDeny `yaml:"deny,omitempty"`
}

type depguardDeny struct {
	Pkg  string `yaml:"pkg"`
	Desc string `yaml:"desc"`
}

// depguardRules translates rules. Rules on the same packages (and with the
// same exceptions) become one list, named after the packages; a rule on all
// packages is named after what it denies. A package pattern becomes file
// globs under the configuration's directory, test files left out (the rules
// are about production code); an import pattern becomes depguard prefixes:
// "x/..." is "x$" (exactly x) and "x/" (below it), "x" is "x$". A rule with
// an allow list is strict: the standard library ($gostd) and the allowed
// only. A rule with exceptions to its deny list (but) is lax: the
// exceptions are an allow list of longer entries than the denied ones.
func depguardRules(rules []rule) (map[string]depguardRule, error) {
	out := map[string]depguardRule{}
	keyName := map[string]string{}
	for _, r := range rules {
		files := []string{filesGlob(r.pkg), "!$test"}
		for _, e := range sortedKeys(r.except) {
			files = append(files, "!"+filesGlob(e))
		}
		key := strings.Join(files, "\n")
		name, ok := keyName[key]
		if !ok {
			base := ruleName(r)
			name = base
			for n := 2; ; n++ {
				if _, taken := out[name]; !taken {
					break
				}
				name = fmt.Sprintf("%s-%d", base, n)
			}
			keyName[key] = name
			out[name] = depguardRule{ListMode: "original", Files: files}
		}
		dr := out[name]
		switch {
		case r.allow != nil && r.but != nil:
			return nil, fmt.Errorf("rule for %s: depguard has no list with both allow and but", r.pkg)
		case r.allow != nil:
			if dr.ListMode == "lax" {
				return nil, fmt.Errorf("rule for %s: an allow list joins a list with but", r.pkg)
			}
			dr.ListMode = "strict"
			if dr.Allow == nil {
				dr.Allow = []string{"$gostd"}
			}
			for _, a := range r.allow {
				dr.Allow = append(dr.Allow, importPrefixes(a)...)
			}
		case r.but != nil:
			// Lax: allowed unless denied, or allowed by a longer
			// (more specific) entry than the one that denies.
			if dr.ListMode == "strict" {
				return nil, fmt.Errorf("rule for %s: but joins a list with allow", r.pkg)
			}
			dr.ListMode = "lax"
			for _, b := range r.but {
				dr.Allow = append(dr.Allow, importPrefixes(b)...)
			}
		}
		for _, d := range r.deny {
			for _, p := range importPrefixes(d) {
				dr.Deny = append(dr.Deny, depguardDeny{Pkg: p, Desc: r.why})
			}
		}
		out[name] = dr
	}
	return out, nil
}

func ruleName(r rule) string {
	if r.pkg == "..." && len(r.deny) > 0 {
		d := strings.TrimSuffix(r.deny[0], "/...")
		return "no-" + d[strings.LastIndex(d, "/")+1:]
	}
	return strings.NewReplacer("/...", "", "/", "-").Replace(r.pkg)
}

// filesGlob is the glob of the non-test files of the packages pattern
// matches. ${config-path} is the directory of .golangci.yml, the module
// root, as an absolute path: the file names depguard matches are absolute.
func filesGlob(pattern string) string {
	if pattern == "..." {
		return "$all"
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return "${config-path}/" + base + "/**"
	}
	return "${config-path}/" + pattern + "/*.go"
}

func importPrefixes(pattern string) []string {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return []string{base + "$", base + "/"}
	}
	return []string{pattern + "$"}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestDepguardAgrees(t *testing.T) {
	want, err := depguardRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../.golangci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Linters struct {
			Enable   []string `yaml:"enable"`
			Settings struct {
				Depguard struct {
					Rules map[string]depguardRule `yaml:"rules"`
				} `yaml:"depguard"`
			} `yaml:"settings"`
		} `yaml:"linters"`
	}
	if err := yamlv3.Unmarshal(b, &cfg); err != nil {
		t.Fatalf(".golangci.yml: %v", err)
	}
	if !slices.Contains(cfg.Linters.Enable, "depguard") {
		t.Errorf(".golangci.yml does not enable depguard")
	}
	if got := cfg.Linters.Settings.Depguard.Rules; !reflect.DeepEqual(got, want) {
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Logf("%s: %#v != %#v", k, got[k], want[k])
			}
		}
		var buf bytes.Buffer
		enc := yamlv3.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(want); err != nil {
			t.Fatal(err)
		}
		indented := "        " + strings.ReplaceAll(strings.TrimSuffix(buf.String(), "\n"), "\n", "\n        ")
		t.Errorf(".golangci.yml's depguard rules are not those of imports_test.go; "+
			"paste these under linters.settings.depguard.rules:\n%s", indented)
	}
}

// TestDepguardPrefixes guards against a quirk of depguard's matching: it
// looks for an import's prefix only at the import's sorted position in a
// list, so a prefix entry shadowed by a longer entry that starts with it is
// missed ("a/" misses "a/c" when "a/b" is in the list too). The standard
// library's top-level names ($gostd) count as prefixes of what is below
// them ("go" of "go/ast", not of "golang.org/x/...").
func TestDepguardPrefixes(t *testing.T) {
	std, err := os.ReadDir(filepath.Join(build.Default.GOROOT, "src"))
	if err != nil {
		t.Fatal(err)
	}
	var gostd []string
	for _, e := range std {
		if e.IsDir() {
			gostd = append(gostd, e.Name())
		}
	}
	if !slices.Contains(gostd, "net") {
		t.Fatalf("no standard library under %s", build.Default.GOROOT)
	}
	lists, err := depguardRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range lists {
		var denied []string
		for _, d := range r.Deny {
			denied = append(denied, d.Pkg)
		}
		for list, entries := range map[string][]string{"allow": r.Allow, "deny": denied} {
			if slices.Contains(entries, "$gostd") {
				entries = append(slices.DeleteFunc(slices.Clone(entries), func(s string) bool { return s == "$gostd" }), gostd...)
			}
			for _, a := range entries {
				if strings.HasSuffix(a, "$") {
					continue
				}
				isStd := slices.Contains(gostd, a)
				for _, b := range entries {
					b = strings.TrimSuffix(b, "$")
					if b == a || !strings.HasPrefix(b, a) {
						continue
					}
					if isStd && b[len(a)] > '/' {
						continue // sorts after everything a matches
					}
					t.Errorf("depguard list %s, %s: %q shadows the prefix %q", name, list, b, a)
				}
			}
		}
	}
}
