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
