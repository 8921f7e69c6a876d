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
//     with Save(host, cred) and Erase(host) as docker login/logout do. A
//     Client asks its store once per registry.
//   - Transport: auth (Bearer token flow with GET or the OAuth2 POST
//     grants, Basic) over user agent over retry over the base transport.
//   - Helpers: Reference.Name, Familiar, WithTag, WithDigest; APIHost
//     (docker.io → registry-1.docker.io).
package client
