// Package config reads the registry's configuration: a YAML file with the
// keys of CNCF Distribution's config.yml (version 0.1), overridden by
// REGISTRY_* environment variables, into a typed Config.
//
// Contract:
//
//   - Load(r, env) parses a file, applies env and validates; FromEnv(env)
//     does the same starting from Default, for a registry run without a
//     file. Both return a Config ready to use or an error, never both.
//   - Every key is known: an unknown key in the file or under a known
//     section of the environment is an error naming the full dotted key,
//     e.g. `config: unknown key "storage.filesystem.rootdir" (line 4)`.
//   - A bad value (wrong type, bad duration, value outside an enumeration,
//     missing companion key) is an error naming the key and the value, and
//     where it came from ("line 7" or "from REGISTRY_HTTP_ADDR"). Each
//     problem is one line starting with "config: "; a file's type errors,
//     unknown and duplicate keys are all reported at once (up to 20), one
//     line each, and so are refused keys; validation reports the first.
//   - Every key of Distribution v3's configuration reference parses
//     (distkeys.go). Keys Berth does not offer by design (storage.azure,
//     storage.gcs, auth.silly, middleware, http.tls.letsencrypt,
//     proxy.exec, reporting, storage.s3.v4auth: false, ...) are refused,
//     one line each naming the key and what to do instead. Keys of
//     features still to come parse and validate, and NotImplemented
//     names those configured, for the program to refuse.
//   - Exactly one storage driver (filesystem, inmemory, s3) is configured.
//     "storage: inmemory" in the file or REGISTRY_STORAGE=inmemory selects a
//     driver and drops the others, keeping delete, maintenance, cache and
//     redirect.
//   - Defaults: log level info, text formatter, http.addr :5000,
//     http.draintimeout 30s, layer and index validation "all", filesystem
//     rootdirectory /var/lib/registry. Default() (no file) adds filesystem
//     storage in ./data and enables deletes, which a Distribution file
//     leaves disabled unless storage.delete.enabled is true.
//   - Enumerated values match case-insensitively and are stored
//     lower-case: loglevel, log.level, log.formatter, http.net,
//     http.tls.minimumtls, storage.s3.loglevel, storage.cache.blobdescriptor,
//     validation.manifests.layers, validation.manifests.indexes.platforms.
//   - validation.manifests.layers (all|none), auth.token.server (the
//     built-in token server) and auth.policy (the access policy file) are
//     Berth extensions; every other key is Distribution's.
//   - auth: at most one of htpasswd (realm and path required) and token
//     (an absolute realm URL, service, issuer, and keys from
//     rootcertbundle, jwks or server); token.server needs key and
//     htpasswd, its expiration is at most 1h; auth.policy needs htpasswd
//     or token.server. Files are named, not read, here.
//   - proxy: remoteurl (Distribution's single upstream, for every
//     repository no prefix takes) and/or upstreams (a Berth extension:
//     prefix, remoteurl, username, password, ttl each). Remote URLs are
//     http(s) without a path; prefixes are distinct repository names;
//     proxy.username/password go with proxy.remoteurl only; ttls are 0 or
//     more (UpstreamTTL resolves the defaults).
//   - notifications: enabled endpoints have unique names, absolute http(s)
//     urls, valid header names, timeout, threshold and backoff of 0 or
//     more, ignore.actions among pull, push, mount, delete (disabled ones
//     are kept unchecked). notifications.queue (directory, maxsize) is a
//     Berth extension; QueueDirectory resolves its default.
//
// Some sections are parsed, validated and kept for features that come
// later; NotImplemented names the configured ones Berth cannot serve yet
// (none today).
//
// Environment variables follow Distribution: REGISTRY_ then the key path
// upper-cased and joined by "_" (REGISTRY_STORAGE_DELETE_ENABLED=true),
// list items by index (REGISTRY_HTTP_TLS_CLIENTCAS_0), lists and mappings
// as YAML flow text (REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS='[DENY]'). Unlike
// Distribution, which logs and ignores every unknown variable, a variable
// under a known section that names no key is an error; variables outside
// the sections, and Kubernetes service links (REGISTRY_PORT,
// REGISTRY_HTTP_SERVICE_HOST), are ignored.
//
// Imports: the standard library, yaml.v3, and of this module
// internal/yamlx, internal/oci and registry/policy (the policies section's
// types) only; never the packages the configuration configures.
package config
