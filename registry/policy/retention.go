package policy

// Retention is policies.retention: the rules that decide which tags and
// untagged manifests garbage collection may take. (Skeleton: the rules
// land with the retention work of issue 12.)
type Retention struct{}

func (r *Retention) empty() bool { return true }

// retentionSet is a compiled Retention.
type retentionSet struct{}

func compileRetention(r *Retention, key string, fail failFunc) *retentionSet {
	return &retentionSet{}
}
