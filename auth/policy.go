package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/glob"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/internal/yamlx"
)

// Policy is the access policy: who may pull, push and delete in which
// repositories. It only grants; what no rule grants is refused. A nil
// *Policy is the policy of a registry configured without a file: every
// authenticated user may do everything, anonymous users nothing
// (Distribution's behaviour).
//
// The file is YAML:
//
//	groups:                      # group -> members (htpasswd user names)
//	  admins: [alice]
//	  developers: [bob, carol]
//	rules:
//	  - repositories: ["**"]     # globs: * and ? stay within a path
//	    groups: [admins]         # component; a trailing /** matches
//	    actions: [pull, push, delete] # everything below
//	  - repositories: ["team/**"]
//	    groups: [developers]
//	    users: [dave]
//	    actions: [pull, push]
//	  - repositories: ["public/*"]
//	    anonymous: true          # anyone, logged in or not
//	    actions: [pull]
//	  - repositories: ["shared/**"]
//	    authenticated: true      # any logged-in user
//	    actions: [pull]
//
// The catalog is open to every authenticated user (never to anonymous
// ones: clients send credentials only when challenged, so an anonymous
// listing would hide what they may see) and lists only what the caller
// may pull.
type Policy struct {
	file *watchfile.File[*policyDoc]
}

type policyDoc struct {
	Groups map[string][]string `yaml:"groups"`
	Rules  []policyRule        `yaml:"rules"`

	memberOf map[string][]string // user -> groups
}

type policyRule struct {
	Repositories  []string `yaml:"repositories"`
	Users         []string `yaml:"users"`
	Groups        []string `yaml:"groups"`
	Authenticated bool     `yaml:"authenticated"`
	Anonymous     bool     `yaml:"anonymous"`
	Actions       []string `yaml:"actions"`
}

// Principal is who a request comes from.
type Principal struct {
	Name          string // "" when anonymous
	Authenticated bool
}

// OpenPolicy reads the policy file at path. A missing or invalid file is
// an error.
func OpenPolicy(path string, log *slog.Logger) (*Policy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := watchfile.Open(path, "every access is denied", parsePolicy, log)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &Policy{file: f}, nil
}

// parsePolicy parses and checks a policy document: unknown keys, unknown
// actions, groups used but not defined, rules without a repository, an
// action or someone they apply to, and malformed globs are errors.
func parsePolicy(b []byte) (*policyDoc, error) {
	var doc policyDoc
	if err := yamlx.Decode(b, &doc); err != nil && !errors.Is(err, yamlx.ErrEmpty) {
		if errors.Is(err, yamlx.ErrLimit) {
			return nil, err
		}
		return nil, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	doc.memberOf = map[string][]string{}
	for g, members := range doc.Groups {
		if g == "" {
			return nil, errors.New("groups: empty group name")
		}
		for _, m := range members {
			if !validUserName(m) {
				return nil, fmt.Errorf("groups.%s: invalid user name %q", g, m)
			}
			doc.memberOf[m] = append(doc.memberOf[m], g)
		}
	}
	for i, r := range doc.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		if len(r.Repositories) == 0 {
			return nil, fmt.Errorf("%s: no repositories", at)
		}
		for _, p := range r.Repositories {
			if err := glob.Check(p); err != nil {
				return nil, fmt.Errorf("%s: repository pattern %q: %v", at, p, err)
			}
		}
		if len(r.Actions) == 0 {
			return nil, fmt.Errorf("%s: no actions, want some of pull, push, delete", at)
		}
		for _, a := range r.Actions {
			if !slices.Contains(repositoryActions, a) {
				return nil, fmt.Errorf("%s: unknown action %q, want pull, push or delete", at, a)
			}
		}
		if len(r.Users) == 0 && len(r.Groups) == 0 && !r.Authenticated && !r.Anonymous {
			return nil, fmt.Errorf("%s: applies to no one; set users, groups, authenticated or anonymous", at)
		}
		for _, u := range r.Users {
			if !validUserName(u) {
				return nil, fmt.Errorf("%s: invalid user name %q", at, u)
			}
		}
		for _, g := range r.Groups {
			if _, ok := doc.Groups[g]; !ok {
				return nil, fmt.Errorf("%s: group %q is not defined under groups", at, g)
			}
		}
	}
	return &doc, nil
}

// Allowed reports whether who may do a under policy p (nil: no policy).
// Only valid accesses can be allowed. While the policy file cannot be
// read nothing is allowed: a deleted policy never turns into no policy.
func (p *Policy) Allowed(who Principal, a Access) bool {
	if !a.valid() {
		return false
	}
	if p == nil {
		return who.Authenticated
	}
	doc, err := p.file.Get()
	if err != nil {
		return false
	}
	return doc.allowed(who, a)
}

// allowed is Allowed for a valid a under the document doc.
func (doc *policyDoc) allowed(who Principal, a Access) bool {
	switch a {
	case Catalog:
		return who.Authenticated
	case Admin:
		return doc.everywhere(who, ActionDelete)
	}
	for _, r := range doc.Rules {
		if r.appliesTo(who, doc) && slices.Contains(r.Actions, a.Action) && r.matches(a.Name) {
			return true
		}
	}
	return false
}

// AllowedEverywhere reports whether who may do action in every repository:
// without a policy, when authenticated; with one, when a rule for "**"
// grants it.
func (p *Policy) AllowedEverywhere(who Principal, action string) bool {
	if p == nil {
		return who.Authenticated
	}
	doc, err := p.file.Get()
	if err != nil {
		return false
	}
	return doc.everywhere(who, action)
}

// everywhere is AllowedEverywhere under the document doc.
func (doc *policyDoc) everywhere(who Principal, action string) bool {
	for _, r := range doc.Rules {
		if r.appliesTo(who, doc) && slices.Contains(r.Actions, action) && slices.Contains(r.Repositories, "**") {
			return true
		}
	}
	return false
}

// AllowedAll reports whether who may do every access in as.
func (p *Policy) AllowedAll(who Principal, as []Access) bool {
	for _, a := range as {
		if !p.Allowed(who, a) {
			return false
		}
	}
	return true
}

func (r *policyRule) appliesTo(who Principal, doc *policyDoc) bool {
	if r.Anonymous || (who.Authenticated && r.Authenticated) {
		return true
	}
	if !who.Authenticated {
		return false
	}
	if slices.Contains(r.Users, who.Name) {
		return true
	}
	for _, g := range doc.memberOf[who.Name] {
		if slices.Contains(r.Groups, g) {
			return true
		}
	}
	return false
}

func (r *policyRule) matches(name string) bool {
	for _, p := range r.Repositories {
		if glob.Match(p, name) {
			return true
		}
	}
	return false
}
