package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// Resource types and actions of the Docker/OCI token scope grammar.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"

	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*" // registry:catalog:*, and every action on a repository
)

// Bounds on what a token request may ask for.
const (
	maxScopeLength = 512
	maxScopes      = 64
)

// ErrInvalidScope is wrapped by every error of ParseScope.
var ErrInvalidScope = errors.New("invalid scope")

// Access is one permission: an action on a resource.
type Access struct {
	Type   string `json:"type"`   // TypeRepository or TypeRegistry
	Name   string `json:"name"`   // a repository name, or "catalog"
	Action string `json:"action"` // pull, push, delete; "*" for the catalog
}

// Catalog is the access GET /v2/_catalog wants.
var Catalog = Access{Type: TypeRegistry, Name: "catalog", Action: ActionAll}

// Admin is the access of the registry's administrator endpoints (outside
// /v2/: repository delete, usage). The access policy grants it to whoever
// may delete in every repository (a rule for "**" with delete); without a
// policy, to every authenticated user.
var Admin = Access{Type: TypeRegistry, Name: "admin", Action: ActionAll}

// Repository is the access to name for each of actions.
func Repository(name string, actions ...string) []Access {
	out := make([]Access, len(actions))
	for i, a := range actions {
		out[i] = Access{Type: TypeRepository, Name: name, Action: a}
	}
	return out
}

// String is the access in scope form, "repository:a/b:pull".
func (a Access) String() string { return a.Type + ":" + a.Name + ":" + a.Action }

// valid reports whether a is something a scope may ask for and a policy
// may grant: a repository action on a valid name, or the catalog.
func (a Access) valid() bool {
	switch a.Type {
	case TypeRepository:
		return ValidName(a.Name) && slices.Contains(repositoryActions, a.Action)
	case TypeRegistry:
		return a == Catalog || a == Admin
	}
	return false
}

var repositoryActions = []string{ActionPull, ActionPush, ActionDelete}

// ValidName reports whether name is a valid repository name (the OCI
// distribution grammar, oci.ValidName).
func ValidName(name string) bool { return oci.ValidName(name) }

// ParseScope parses one scope, "repository:<name>:<action>[,<action>...]",
// "repository:<name>:*" or "registry:catalog:*", into one Access per
// action. "*" on a repository stands for every action (pull, push and
// delete), as in Distribution's token scope grammar; containers/image
// (skopeo, podman) asks for it before a DELETE. It is strict: the name
// must be valid, every action known and given once, "*" alone; there is
// no resource class ("repository(plugin)") and no wildcard name. Errors
// wrap ErrInvalidScope.
func ParseScope(s string) ([]Access, error) {
	bad := func(why string) ([]Access, error) {
		if len(s) > 80 {
			s = s[:80] + "..."
		}
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidScope, s, why)
	}
	if len(s) > maxScopeLength {
		return bad("too long")
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return bad("want type:name:actions")
	}
	typ, name, actions := parts[0], parts[1], strings.Split(parts[2], ",")
	if typ == TypeRepository && parts[2] == ActionAll {
		actions = repositoryActions
	}
	var out []Access
	for _, act := range actions {
		a := Access{Type: typ, Name: name, Action: act}
		switch {
		case typ != TypeRepository && typ != TypeRegistry:
			return bad("unknown resource type")
		case typ == TypeRepository && !ValidName(name):
			return bad("invalid repository name")
		case !a.valid():
			return bad(fmt.Sprintf("action %q not allowed here", act))
		case slices.Contains(out, a):
			return bad(fmt.Sprintf("action %q given twice", act))
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseScopes parses scope parameters, each holding one or more scopes
// separated by spaces (the OAuth2 form), and merges them. At most 64 scopes
// are accepted.
func ParseScopes(params []string) ([]Access, error) {
	var out []Access
	n := 0
	for _, p := range params {
		for _, s := range strings.Split(p, " ") {
			if s == "" {
				continue
			}
			if n++; n > maxScopes {
				return nil, fmt.Errorf("%w: more than %d scopes", ErrInvalidScope, maxScopes)
			}
			as, err := ParseScope(s)
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out, nil
}

// FormatScopes writes accesses in scope form, grouping the actions on one
// resource ("repository:a:pull,push"), resources separated by spaces, in
// order of first appearance.
func FormatScopes(as []Access) string {
	type resource struct{ typ, name string }
	var order []resource
	actions := map[resource][]string{}
	for _, a := range as {
		r := resource{a.Type, a.Name}
		if _, ok := actions[r]; !ok {
			order = append(order, r)
		}
		if !slices.Contains(actions[r], a.Action) {
			actions[r] = append(actions[r], a.Action)
		}
	}
	scopes := make([]string, len(order))
	for i, r := range order {
		scopes[i] = r.typ + ":" + r.name + ":" + strings.Join(actions[r], ",")
	}
	return strings.Join(scopes, " ")
}
