package auth

import "net/http"

// Login checks a user name and password taken from a form (the web UI's
// login page) as basic auth checks them: the same htpasswd file, the
// same cache of recent verifications, and failed attempts counted against
// the client's address in limiter (nil: not limited), a *Challenge with
// status 429 once it has none left. Any other failure is an error whose
// text can be shown to the user.
func (u *Users) Login(r *http.Request, limiter *Limiter, user, password string) error {
	if user == "" || u == nil {
		return errBadCredentials
	}
	return checkPassword(r, u, limiter, user, password)
}

// Decider returns what Allowed answers for who, from one reading of the
// policy file: for a caller that asks about many repositories at once
// (the web UI's listings), so that the file is looked at once and not
// for every name. The answers do not follow later edits of the file.
func (p *Policy) Decider(who Principal) func(Access) bool {
	if p == nil {
		return func(a Access) bool { return a.valid() && who.Authenticated }
	}
	doc, err := p.file.Get()
	if err != nil {
		return func(Access) bool { return false }
	}
	return func(a Access) bool { return a.valid() && doc.allowed(who, a) }
}
