// Package auth decides who may do what on the registry: htpasswd basic
// auth, bearer tokens (JWTs verified with golang-jwt/jwt/v5), the built-in
// token server, and the access policy. It knows nothing of storage: it sees
// requests, credentials and the access a route wants.
//
// Contract:
//
//   - An Authorizer's Authorize(ctx, r, wanted...) returns the caller's
//     *Grant when the request's credentials allow every wanted Access, and
//     a *Challenge otherwise. With nothing wanted it only checks that the
//     request carries valid credentials (GET /v2/).
//   - A *Challenge carries the HTTP status (401 UNAUTHORIZED with its
//     WWW-Authenticate header, 403 DENIED, 429 TOOMANYREQUESTS with
//     Retry-After) and sets its headers with SetHeaders; the caller maps it
//     to a response body. Its message never holds a secret.
//   - Basic (htpasswd mode): bcrypt entries only; a bad password is a 401
//     with a Basic challenge; an authenticated user the policy refuses gets
//     403; anonymous requests (no credentials, or an empty user name and
//     password) get what the policy grants anonymous users, else 401.
//   - The Policy grants pull, push and delete on repository globs to
//     users, groups, any authenticated user and anonymous users; the
//     catalog (registry:catalog:*) to authenticated users, each seeing
//     only what they may pull. Without a policy, authenticated users may
//     do everything and anonymous ones nothing.
//   - Names and scopes are checked strictly (ParseScope): the OCI name
//     grammar, known actions, no wildcard names, no "..", nothing
//     injected; anything else is refused, never matched loosely. The one
//     wildcard is the action "*" alone (repository:NAME:*), which asks for
//     every action; the token server grants the part the policy allows,
//     and a token's "*" on a repository grants every action.
//   - Bearer (token mode): RS256, ES256 and EdDSA only, each bound to its
//     key's type; the token must name a known key id (kid), the configured
//     issuer and the service as audience, and be within exp/nbf. Anything
//     else is 401 error="invalid_token"; a valid token without the wanted
//     access is 401 error="insufficient_scope" with the scope to ask for.
//   - TokenServer (GET and POST /auth/token) issues short-lived access
//     tokens holding what the Policy grants out of what was asked, and
//     refresh tokens bound to the user's current htpasswd entry.
//   - Failed password checks are counted per client IP by a Limiter; past
//     its burst, password checks from that address answer 429 until the
//     bucket refills. A check takes its token before bcrypt runs (a right
//     password gives it back) and at most two run at once per address, so
//     concurrent guesses cannot outrun the count. Credentials verified recently are cached (keyed by a
//     per-process HMAC), so a client that sends its password with every
//     request costs one bcrypt comparison, not one per request.
//   - The htpasswd and policy files are read at start-up (an unreadable or
//     invalid file is an error) and re-read when they change; a change that
//     does not parse is logged and the previous content stays in force. A
//     file that disappears or cannot be read fails closed until it is back:
//     no login passes, the policy allows nothing.
//
// Imports: the standard library, golang-jwt/jwt/v5, x/crypto/bcrypt, and
// of this module only the leaf packages internal/oci, internal/glob,
// internal/watchfile and internal/yamlx. Never registry/storage nor the
// host agent (internal/archtest).
package auth
