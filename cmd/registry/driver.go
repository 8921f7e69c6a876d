package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// openDriver opens the configured storage driver and describes it for the
// start-up line. The S3 driver checks its bucket here, so that a missing
// bucket or refused credentials stop start-up with a clear error. serving:
// for the registry's server, which owns the filesystem's redo log.
func openDriver(ctx context.Context, s *config.Storage, serving bool) (storagedriver.Driver, string, error) {
	switch name := s.Driver(); name {
	case "inmemory":
		return inmemory.New(), "storage inmemory", nil
	case "filesystem":
		root, err := filepath.Abs(s.Filesystem.RootDirectory)
		if err != nil {
			return nil, "", err
		}
		var opts []filesystem.Option
		if serving {
			// The one long-lived writer of the root logs its small
			// writes; the other commands, run beside it, write as before
			// and make it pause the log while they run.
			opts = append(opts, filesystem.WithRedoLog())
		}
		d, err := filesystem.New(root, opts...)
		if err != nil {
			return nil, "", err
		}
		return d, "storage filesystem at " + root, nil
	case "s3":
		c := s.S3
		p := s3.Params{
			Region:                      c.Region,
			RegionEndpoint:              c.RegionEndpoint,
			Bucket:                      c.Bucket,
			RootDirectory:               c.RootDirectory,
			AccessKey:                   c.AccessKey,
			SecretKey:                   c.SecretKey,
			ForcePathStyle:              c.ForcePathStyle,
			Secure:                      c.Secure == nil || *c.Secure,
			SkipVerify:                  c.SkipVerify,
			ChunkSize:                   c.ChunkSize,
			MultipartCopyChunkSize:      c.MultipartCopyChunkSize,
			MultipartCopyMaxConcurrency: c.MultipartCopyMaxConcurrency,
			MultipartCopyThresholdSize:  c.MultipartCopyThresholdSize,
			StorageClass:                c.StorageClass,
			Encrypt:                     c.Encrypt,
			KeyID:                       c.KeyID,
			Redirect:                    !s.Redirect.Disable,
			Timeout:                     c.Timeout,
			UserAgent:                   c.UserAgent,
			ObjectACL:                   c.ObjectACL,
			SessionToken:                c.SessionToken,
			UseDualStack:                c.UseDualStack,
			Accelerate:                  c.Accelerate,
			UseFIPSEndpoint:             c.UseFIPSEndpoint,
			LogLevel:                    c.LogLevel,
		}
		d, err := s3.New(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return d, "storage " + d.String(), nil
	default:
		return nil, "", fmt.Errorf("unknown driver %q", name)
	}
}
