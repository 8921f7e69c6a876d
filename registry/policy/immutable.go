package policy

import (
	"fmt"
	"path"
	"strings"

	"github.com/berth-registry/berth/internal/glob"
)

// ImmutableRule is one entry of policies.immutable: tags of the matching
// repositories that may not be moved to another manifest or deleted once
// pushed. Pushing the same manifest under the tag again is allowed.
//
//	immutable:
//	  - repositories: ["team/**"]   # repository globs (the access policy's grammar)
//	    tags: ["v*"]                # tag globs (path.Match: * ? [a-z])
//	    except: ["*-rc*"]           # tag globs left mutable
//
// A tag is immutable when some rule has a repository glob matching its
// repository, a tag glob matching it and no except glob matching it. Tags
// are globs, not regular expressions, to read like the repository globs;
// tags have no "/", so * spans the whole tag.
type ImmutableRule struct {
	Repositories []string `yaml:"repositories"`
	Tags         []string `yaml:"tags"`
	Except       []string `yaml:"except"`
}

// immutableRule is a compiled ImmutableRule.
type immutableRule struct {
	key          string // "immutable[0]"
	repositories []string
	tags         []string
	except       []string
}

func compileImmutable(r *ImmutableRule, key string, fail failFunc) (immutableRule, bool) {
	ok := true
	if len(r.Repositories) == 0 {
		fail(key+".repositories", `at least one repository glob is required ("**" for every repository)`)
		ok = false
	}
	for i, p := range r.Repositories {
		if err := glob.Check(p); err != nil {
			fail(fmt.Sprintf("%s.repositories[%d]", key, i), "repository glob %q: %v", p, err)
			ok = false
		}
	}
	if len(r.Tags) == 0 {
		fail(key+".tags", `at least one tag glob is required ("*" for every tag)`)
		ok = false
	}
	check := func(field string, pats []string) {
		for i, p := range pats {
			if err := checkTagGlob(p); err != nil {
				fail(fmt.Sprintf("%s.%s[%d]", key, field, i), "tag glob %q: %v", p, err)
				ok = false
			}
		}
	}
	check("tags", r.Tags)
	check("except", r.Except)
	return immutableRule{key: key, repositories: r.Repositories, tags: r.Tags, except: r.Except}, ok
}

// checkTagGlob accepts path.Match patterns of at most 128 bytes (the
// longest tag) made of tag characters and the glob's own * ? [ ] ^ !.
func checkTagGlob(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty")
	case len(p) > 128:
		return fmt.Errorf("longer than 128 bytes")
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.-*?[]^!", c)) {
			return fmt.Errorf("%q cannot appear in a tag or a glob", c)
		}
	}
	if _, err := path.Match(p, "x"); err != nil {
		return err
	}
	return nil
}

func (r *immutableRule) matches(repo, tag string) bool {
	return anyMatch(r.repositories, repo, glob.Match) && anyMatch(r.tags, tag, tagMatch) && !anyMatch(r.except, tag, tagMatch)
}

func tagMatch(p, tag string) bool {
	ok, _ := path.Match(p, tag)
	return ok
}

func anyMatch(pats []string, s string, match func(p, s string) bool) bool {
	for _, p := range pats {
		if match(p, s) {
			return true
		}
	}
	return false
}

// Immutable reports whether tag of repository repo is immutable, and then
// names the first rule that makes it so, as its messages quote it:
// "policies.immutable[0]: tags v*". A nil Set has no immutable tags.
// Retention never deletes a tag for which it reports true.
func (s *Set) Immutable(repo, tag string) (rule string, ok bool) {
	if s == nil {
		return "", false
	}
	for i := range s.immutable {
		r := &s.immutable[i]
		if r.matches(repo, tag) {
			desc := "policies." + r.key + ": tags " + strings.Join(r.tags, ", ")
			if len(r.except) > 0 {
				desc += " except " + strings.Join(r.except, ", ")
			}
			return desc, true
		}
	}
	return "", false
}

// HasImmutable reports whether any rule could make a tag of repository
// repo immutable: when not, requests on it need not look at tags.
func (s *Set) HasImmutable(repo string) bool {
	if s == nil {
		return false
	}
	for i := range s.immutable {
		if anyMatch(s.immutable[i].repositories, repo, glob.Match) {
			return true
		}
	}
	return false
}
