// Package yamlx reads the YAML files Berth is configured with (the
// registry's config.yml, the access policy, the agent's sync.yml) under
// bounds, so that a small hostile or mistaken file cannot make a reader
// spend minutes or gigabytes.
//
// YAML anchors and aliases (and merge keys, <<: *anchor, which are aliases
// too) make a document's decoded size independent of its length: nine
// levels of ten aliases each are 10^9 nodes in 600 bytes. yaml.v3 parses
// such a document into a yaml.Node tree cheaply (an alias is one node
// pointing at its anchor), but every decoder that walks the tree expands
// each alias again. Parse refuses, before any decoding, a document longer
// than MaxSize, one whose tree, aliases expanded, has more nodes than
// Budget allows or is nested deeper than MaxDepth, one in which an alias
// refers to a node that contains it, and one with a list or a mapping as
// a key (which makes yaml.v3's decoder panic when merging).
//
// Every error about those bounds matches ErrLimit (errors.Is).
//
// Decoder (decode.go) is the one strict decoder of those files: it walks
// the tree Parse checked into a Go value by yaml tags, and reports each
// unknown or repeated key, wrong shape and unparsable scalar as a Problem
// that the reader words its own way (registry/config for config.yml and
// the policies file, hostagent/mirror for sync.yml).
//
// Imports: the standard library and yaml.v3 only; every package that reads
// Berth's YAML (registry/config, auth, hostagent/mirror) imports it.
package yamlx
