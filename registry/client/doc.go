// Package client is Berth's registry HTTP client: the OCI distribution wire
// protocol, with the auth flows registries use, shared by the host agent and
// the pull-through proxy. It knows only the protocol, never the server's
// internals.
//
// The API (ctx first everywhere; methods named after regclient's):
//
//	ref, err := client.ParseReference("ubuntu")      // docker.io/library/ubuntu:latest
//	c := client.New(client.WithCredentials(store), client.WithInsecure("localhost:5000"))
//	m, err := c.ManifestGet(ctx, ref)                 // *Manifest{Descriptor, Payload}
//	desc, err := c.ManifestHead(ctx, ref)
//	d, err := c.ManifestPut(ctx, ref, mediaType, payload)
//	err = c.ManifestDelete(ctx, ref)
//	size, err := c.BlobHead(ctx, ref, d)
//	rc, size, err := c.BlobGet(ctx, ref, d, offset)   // Range from offset; verify yourself or use VerifyReader
//	ok, err := c.BlobMount(ctx, ref, fromRepo, d)
//	err = c.BlobPut(ctx, ref, desc, r)                // monolithic, or chunked above a threshold
//	tags, err := c.Tags(ctx, ref)                     // follows Link pages
//	repos, err := c.Catalog(ctx, registryHost)
//	idx, err := c.Referrers(ctx, ref, d, artifactType)
//	err = c.Ping(ctx, registryHost)                   // checks reachability and credentials
//
// A Reference names a registry host, a repository, and a tag and/or digest;
// methods that act on a repository ignore its tag and digest.
//
// Errors: ErrNotFound (manifest, blob, repository or tag unknown),
// ErrUnauthorized (no or wrong credentials), ErrDenied (authenticated but not
// allowed), ErrUnavailable (unreachable, or 5xx after retries); all wrap
// *ResponseError with the status and the OCI error codes when the registry
// sent any. Test with errors.Is / errors.As.
//
// Beyond that contract:
//
//   - Sizes and streams: BlobGet's size is the blob's whole size (-1 when
//     the registry does not say), whatever the offset; its reader is not
//     verified: wrap it with VerifyReader(r, digest, size), which fails with
//     ErrDigestMismatch at size bytes or at EOF. BlobPut takes desc.Size -1
//     for a stream of unknown length (always chunked) and verifies the bytes
//     while they stream.
//   - More error classes: ErrUnsupported (405, e.g. deletes disabled),
//     ErrDigestMismatch (content or DIGEST_INVALID), ErrRangeIgnored (a
//     resumed BlobGet answered from byte 0), ErrTooLarge (a manifest past
//     MaxManifestSize, a listing past WithListLimits), ErrInsecure (plain
//     HTTP that was not allowed), ErrCrossOrigin (a Link or Location off
//     the registry). A
//     transport failure wraps ErrUnavailable and the network error, not a
//     *ResponseError; so does a token server's refusal other than 401/403
//     (then ErrUnauthorized, without a *ResponseError).
//   - Options: WithCredentials, WithInsecure(hosts...), WithHTTPS(hosts...)
//     (TLS to a loopback registry, which otherwise gets plain HTTP),
//     WithTransport (the base RoundTripper, e.g. custom TLS roots),
//     WithUserAgent, WithRetry(RetryPolicy), WithChunkSize, WithPageSize,
//     WithListLimits.
//   - Credentials: CredentialStore{Get(host)}, StaticCredentials (a map),
//     and DockerConfig (NewDockerConfig(path), "" for the default), which
//     reads docker's config.json and credential helpers and writes it back
//     with Save(host, cred) and Erase(host) as docker login/logout do (the
//     helpers through docker-credential-helpers/client, the file itself
//     written by internal/oci.WriteAtomicMode with mode 0600). A Client
//     asks its store once per registry.
//   - Transport: auth (Bearer token flow with GET or the OAuth2 POST
//     grants, Basic) over user agent over retry over the base transport.
//   - Helpers: Reference (internal/oci's reference grammar, aliased here)
//     with Name, Familiar, WithTag, WithDigest; APIHost (docker.io →
//     registry-1.docker.io).
//
// # What the client trusts from a server
//
// A registry's origin is the scheme and host:port the client speaks to it
// at (https, or http for loopback and WithInsecure hosts; docker.io's is
// https://registry-1.docker.io). Answers name further URLs; the client
// follows them by these rules, so that a registry (or whoever answers for
// it) cannot point the client, and the user's credentials for it, at other
// hosts such as internal services:
//
//   - Link (tags, catalog and referrers pages) and upload Location headers
//     are resolved against the request and followed only on the registry's
//     origin (same scheme, host and port). Anything else fails with
//     ErrCrossOrigin naming the URL; nothing is sent there and no answer
//     from there is merged into the registry's.
//   - Credentials for a registry (Basic, or the token obtained for it) are
//     sent only in requests to its origin; a challenge from any other host
//     is not answered.
//   - The token realm of a Bearer challenge may be another host (Docker
//     Hub's is auth.docker.io) and gets the registry's credentials, so it
//     must be HTTPS; plain HTTP only when the registry itself is spoken to
//     over plain HTTP and the realm's host is allowed it as well. Otherwise:
//     ErrInsecure. The token is presented to that registry alone.
//   - Redirects (blobs to S3 or a CDN, registry.k8s.io to its backends) are
//     followed to any host, at most 10, never from HTTPS down to HTTP
//     (ErrInsecure). A redirect off the first request's origin carries no
//     Authorization, and a request with a body (an upload, a token server's
//     password form) is not replayed there (ErrCrossOrigin). Where blob
//     bytes come from does not vouch for them: VerifyReader checks them.
//   - A listing is bounded across all its pages: DefaultMaxListEntries and
//     DefaultMaxListBytes unless WithListLimits says otherwise
//     (ErrTooLarge), besides 16 MiB per page and a bound on the pages.
//
// # Imports
//
// The standard library, image-spec, go-digest,
// docker-credential-helpers/client, and of this module only internal/oci;
// never the server (registry, storage, auth) nor the host agent.
package client
