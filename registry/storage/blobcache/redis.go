package blobcache

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/redis/go-redis/v9"
)

// Redis is the redis backend, shared by every node that names the same
// Redis: a blob's descriptor is the hash berth::blobs::<digest> (fields
// size and verified, Unix nanoseconds), a repository's link the string
// berth::repository::<name>::blobs::<digest> (verified). Every key
// expires (PEXPIRE) when the store would stop trusting it, so the Redis
// needs no eviction policy; the keys' prefix keeps them apart from
// Distribution's (blobs::..., repository::...), whose entries carry no
// verification time.
type Redis struct {
	c redis.UniversalClient
}

// NewRedis returns a redis backend over c, which it closes on Close.
func NewRedis(c redis.UniversalClient) *Redis { return &Redis{c: c} }

// Kind implements Backend.
func (r *Redis) Kind() string { return "redis" }

func blobKey(d digest.Digest) string { return "berth::blobs::" + d.String() }

func linkKeyOf(repo string, d digest.Digest) string {
	return "berth::repository::" + repo + "::blobs::" + d.String()
}

// Descriptor implements Backend.
func (r *Redis) Descriptor(ctx context.Context, d digest.Digest) (Descriptor, bool, error) {
	vals, err := r.c.HMGet(ctx, blobKey(d), "size", "verified").Result()
	if err != nil {
		return Descriptor{}, false, err
	}
	return r.descriptor(ctx, d, vals)
}

// descriptor reads the answer of an HMGET of d's size and verified.
func (r *Redis) descriptor(ctx context.Context, d digest.Digest, vals []any) (Descriptor, bool, error) {
	if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
		return Descriptor{}, false, nil
	}
	size, err1 := strconv.ParseInt(asString(vals[0]), 10, 64)
	at, err2 := strconv.ParseInt(asString(vals[1]), 10, 64)
	if err1 != nil || err2 != nil || size < 0 {
		// Not ours, or damaged: a miss, and the entry goes.
		return Descriptor{}, false, r.c.Del(ctx, blobKey(d)).Err()
	}
	return Descriptor{Size: size, Verified: time.Unix(0, at)}, true, nil
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// SetDescriptor implements Backend.
func (r *Redis) SetDescriptor(ctx context.Context, d digest.Digest, desc Descriptor, ttl time.Duration) error {
	k := blobKey(d)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "size", desc.Size, "verified", desc.Verified.UnixNano())
		p.PExpire(ctx, k, ttl)
		return nil
	})
	return err
}

// Link implements Backend.
func (r *Redis) Link(ctx context.Context, repo string, d digest.Digest) (time.Time, bool, error) {
	return r.link(ctx, repo, d, r.c.Get(ctx, linkKeyOf(repo, d)))
}

// Lookup implements Backend: a GET and an HMGET in one pipeline.
func (r *Redis) Lookup(ctx context.Context, repo string, d digest.Digest) (time.Time, bool, Descriptor, bool, error) {
	var get *redis.StringCmd
	var hmget *redis.SliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, linkKeyOf(repo, d))
		hmget = p.HMGet(ctx, blobKey(d), "size", "verified")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return time.Time{}, false, Descriptor{}, false, err
	}
	at, linkOK, err := r.link(ctx, repo, d, get)
	if err != nil {
		return time.Time{}, false, Descriptor{}, false, err
	}
	if hmget.Err() != nil {
		return time.Time{}, false, Descriptor{}, false, hmget.Err()
	}
	desc, descOK, err := r.descriptor(ctx, d, hmget.Val())
	return at, linkOK, desc, descOK, err
}

// link reads the answer of a GET of repo's link to d.
func (r *Redis) link(ctx context.Context, repo string, d digest.Digest, get *redis.StringCmd) (time.Time, bool, error) {
	s, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	at, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false, r.c.Del(ctx, linkKeyOf(repo, d)).Err()
	}
	return time.Unix(0, at), true, nil
}

// SetLink implements Backend.
func (r *Redis) SetLink(ctx context.Context, repo string, d digest.Digest, verified time.Time, ttl time.Duration) error {
	return r.c.Set(ctx, linkKeyOf(repo, d), verified.UnixNano(), ttl).Err()
}

// ForgetBlob implements Backend.
func (r *Redis) ForgetBlob(ctx context.Context, d digest.Digest) error {
	return r.c.Del(ctx, blobKey(d)).Err()
}

// ForgetLink implements Backend.
func (r *Redis) ForgetLink(ctx context.Context, repo string, d digest.Digest) error {
	return r.c.Del(ctx, linkKeyOf(repo, d)).Err()
}

// Close implements Backend.
func (r *Redis) Close() error { return r.c.Close() }
