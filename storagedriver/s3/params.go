package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Sizes and limits of S3 multipart uploads.
const (
	// MinChunkSize is S3's smallest part, except the last one of an upload.
	MinChunkSize = 5 << 20
	// maxPartSize is S3's largest part, and CopyObject's largest source.
	maxPartSize = 5 << 30
	// maxParts is the most parts one multipart upload may have.
	maxParts = 10_000
	// listMax is the most keys S3 returns per list request.
	listMax = 1000
)

// Defaults of the parameters left zero, as in Distribution's S3 driver
// (chunk sizes, copy threshold and concurrency) or chosen for Berth
// (Timeout, RedirectExpiry).
const (
	DefaultChunkSize                   = 2 * MinChunkSize
	DefaultMultipartCopyChunkSize      = 32 << 20
	DefaultMultipartCopyMaxConcurrency = 100
	DefaultMultipartCopyThresholdSize  = 32 << 20
	DefaultTimeout                     = 30 * time.Second
	DefaultRegion                      = "us-east-1"
	redirectExpiry                     = 20 * time.Minute
)

// Params configures a Driver. The field names follow the keys of
// Distribution's storage.s3 section; zero values take the defaults above.
type Params struct {
	// Region of the bucket; DefaultRegion when empty and RegionEndpoint
	// is set (S3-compatible servers mostly ignore it).
	Region string
	// RegionEndpoint is the URL of an S3-compatible server, e.g.
	// http://127.0.0.1:7070. Empty: AWS's endpoint for Region. Without a
	// scheme, Secure chooses https or http.
	RegionEndpoint string
	Bucket         string
	// RootDirectory is the key prefix under which everything is stored;
	// empty for the bucket's root.
	RootDirectory string
	// AccessKey and SecretKey are static credentials; with both empty the
	// AWS default credential chain applies (environment, shared config,
	// web identity, ECS or EC2 instance roles).
	AccessKey, SecretKey string
	// ForcePathStyle addresses the bucket as a path (endpoint/bucket/key)
	// rather than a host name (bucket.endpoint/key).
	ForcePathStyle bool
	// Secure selects https for a RegionEndpoint given without a scheme.
	Secure bool
	// SkipVerify skips the verification of the server's TLS certificate.
	SkipVerify bool
	// ChunkSize is the size of the parts a writer uploads, at least
	// MinChunkSize. A writer buffers up to one chunk in memory.
	ChunkSize int64
	// MultipartCopyChunkSize is the part size of a multipart copy (Move of
	// an object larger than MultipartCopyThresholdSize), run with up to
	// MultipartCopyMaxConcurrency parts in flight.
	MultipartCopyChunkSize      int64
	MultipartCopyMaxConcurrency int64
	MultipartCopyThresholdSize  int64
	// StorageClass of the objects written, e.g. STANDARD or
	// INTELLIGENT_TIERING; empty or NONE sends none (the bucket's default).
	StorageClass string
	// Encrypt asks for server-side encryption: SSE-KMS with KeyID when it
	// is set, SSE-S3 (AES256) otherwise.
	Encrypt bool
	KeyID   string
	// Redirect makes RedirectURL return presigned GET and HEAD URLs, so
	// that clients fetch blobs from S3 directly (storage.redirect.disable
	// turns it off).
	Redirect bool
	// Timeout bounds how long any S3 request may make no progress: to
	// connect, to send, to receive a response or the next bytes of one.
	// A request that stalls that long fails with ErrUnavailable and is not
	// retried. DefaultTimeout when zero. (A Berth key: storage.s3.timeout.)
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a request that fails in a way
	// worth retrying (connection refused or reset, 5xx, throttling);
	// 3 when zero.
	MaxAttempts int

	// UserAgent is added to the User-Agent of every request.
	UserAgent string
	// ObjectACL is the canned ACL (private, bucket-owner-full-control,
	// ...) of the objects written; empty sends none, leaving the bucket's
	// default (Distribution sends private).
	ObjectACL string
	// SessionToken goes with AccessKey and SecretKey (temporary
	// credentials).
	SessionToken string
	// UseDualStack, Accelerate and UseFIPSEndpoint choose AWS's dual-stack
	// (IPv6), Transfer Acceleration and FIPS endpoints.
	UseDualStack, Accelerate, UseFIPSEndpoint bool
	// LogLevel turns on the SDK's own logging to standard error, with
	// Distribution's names: off (default), debug (requests and responses
	// without bodies), debugwithsigning, debugwithhttpbody,
	// debugwithrequestretries, debugwithrequesterrors,
	// debugwitheventstreambody (each adds to debug).
	LogLevel string
}

// clientLogMode maps LogLevel onto the SDK's log modes.
func clientLogMode(level string) (aws.ClientLogMode, error) {
	const debug = aws.LogRequest | aws.LogResponse
	switch strings.ToLower(level) {
	case "", "off", "false":
		return 0, nil
	case "debug":
		return debug, nil
	case "debugwithsigning":
		return debug | aws.LogSigning, nil
	case "debugwithhttpbody":
		return aws.LogRequestWithBody | aws.LogResponseWithBody, nil
	case "debugwithrequestretries":
		return debug | aws.LogRetries, nil
	case "debugwithrequesterrors":
		return debug | aws.LogRetries | aws.LogDeprecatedUsage, nil
	case "debugwitheventstreambody":
		return debug | aws.LogRequestEventMessage | aws.LogResponseEventMessage, nil
	}
	return 0, fmt.Errorf("s3: loglevel %q: want off, debug, debugwithsigning, debugwithhttpbody, debugwithrequestretries, debugwithrequesterrors or debugwitheventstreambody", level)
}

// withDefaults returns p with defaults filled in, or an error naming the
// first bad parameter.
func (p Params) withDefaults() (Params, error) {
	if p.Bucket == "" {
		return p, errors.New("s3: bucket is required")
	}
	if p.RegionEndpoint != "" {
		if !strings.Contains(p.RegionEndpoint, "://") {
			scheme := "http://"
			if p.Secure {
				scheme = "https://"
			}
			p.RegionEndpoint = scheme + p.RegionEndpoint
		}
		u, err := url.Parse(p.RegionEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return p, fmt.Errorf("s3: regionendpoint %q: want a URL such as https://s3.example.com", p.RegionEndpoint)
		}
		if p.Region == "" {
			p.Region = DefaultRegion
		}
	}
	if p.Region == "" {
		return p, errors.New("s3: region is required unless regionendpoint is set")
	}
	if p.SessionToken != "" && p.AccessKey == "" {
		return p, errors.New("s3: sessiontoken goes with accesskey and secretkey")
	}
	if p.Accelerate && p.RegionEndpoint != "" {
		return p, errors.New("s3: accelerate uses AWS's Transfer Acceleration endpoint and cannot go with regionendpoint")
	}
	if _, err := clientLogMode(p.LogLevel); err != nil {
		return p, err
	}
	if (p.AccessKey == "") != (p.SecretKey == "") {
		return p, errors.New("s3: accesskey and secretkey go together: set both, or neither for the default credential chain")
	}
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.ChunkSize, DefaultChunkSize)
	def(&p.MultipartCopyChunkSize, DefaultMultipartCopyChunkSize)
	def(&p.MultipartCopyMaxConcurrency, DefaultMultipartCopyMaxConcurrency)
	def(&p.MultipartCopyThresholdSize, DefaultMultipartCopyThresholdSize)
	for _, c := range []struct {
		name     string
		v        int64
		min, max int64
	}{
		{"chunksize", p.ChunkSize, MinChunkSize, maxPartSize},
		{"multipartcopychunksize", p.MultipartCopyChunkSize, MinChunkSize, maxPartSize},
		{"multipartcopymaxconcurrency", p.MultipartCopyMaxConcurrency, 1, 1000},
		{"multipartcopythresholdsize", p.MultipartCopyThresholdSize, 0, maxPartSize},
	} {
		if c.v < c.min || c.v > c.max {
			return p, fmt.Errorf("s3: %s %d out of range, want %d to %d", c.name, c.v, c.min, c.max)
		}
	}
	if strings.EqualFold(p.StorageClass, "NONE") {
		p.StorageClass = ""
	}
	if p.KeyID != "" && !p.Encrypt {
		return p, errors.New("s3: keyid needs encrypt: true")
	}
	if p.Timeout < 0 {
		return p, fmt.Errorf("s3: timeout %v: want a positive duration", p.Timeout)
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxAttempts < 0 {
		return p, fmt.Errorf("s3: maxattempts %d: want 1 or more", p.MaxAttempts)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 3
	}
	p.RootDirectory = strings.Trim(p.RootDirectory, "/")
	return p, nil
}
