package policy

// ImmutableRule is one entry of policies.immutable: tags of the matching
// repositories that may not be moved or deleted once pushed. (Skeleton:
// the rules land with the immutable-tags work of issue 12.)
type ImmutableRule struct{}

// immutableRule is a compiled ImmutableRule.
type immutableRule struct{}

func compileImmutable(r *ImmutableRule, key string, fail failFunc) (immutableRule, bool) {
	return immutableRule{}, true
}
