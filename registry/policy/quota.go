package policy

// Quota is one entry of policies.quotas: limits on a namespace (a
// repository prefix). (Skeleton: the limits land with the quota work of
// issue 12.)
type Quota struct{}

// quotaRule is a compiled Quota.
type quotaRule struct{}

func compileQuota(q *Quota, key string, fail failFunc) (quotaRule, bool) {
	return quotaRule{}, true
}
