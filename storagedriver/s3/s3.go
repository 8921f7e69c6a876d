package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berth-registry/berth/storagedriver"
)

var (
	_ storagedriver.Driver        = (*Driver)(nil)
	_ storagedriver.Walker        = (*Driver)(nil)
	_ storagedriver.Opener        = (*Driver)(nil)
	_ storagedriver.SizedOpener   = (*Driver)(nil)
	_ storagedriver.Redirector    = (*Driver)(nil)
	_ storagedriver.PendingPurger = (*Driver)(nil)
	_ storagedriver.Creator       = (*Driver)(nil)
	_ storagedriver.FileStatter   = (*Driver)(nil)
)

// pendingDir is the top-level prefix, below the root directory, of the
// tails of pending writes. '~' is refused by storagedriver.CheckPath, so no
// valid path reaches it, and List and Walk skip it.
const pendingDir = "~pending"

// Driver stores content in an S3 bucket. It keeps no state of its own
// between calls: any number of Drivers, in any number of processes, may
// share one bucket and root directory. It is the backend behind a
// storagedriver.Base, which checks the paths.
type Driver struct {
	*storagedriver.Base
	storagedriver.BaseWalker
	storagedriver.BaseOpener
	storagedriver.BaseRedirector
	storagedriver.BasePurger
	storagedriver.BaseActivity
	be *driver
}

// String says where the driver stores (see driver.String).
func (d *Driver) String() string { return d.be.String() }

// driver is the backend. Its methods are called through Driver's Base, with
// valid paths and a live context.
type driver struct {
	p       Params
	client  *s3.Client
	presign *s3.PresignClient
	prefix  string // root directory + "/", or "" for the bucket's root
	where   string // bucket and endpoint, for messages
	// buffers holds idle chunk buffers for parts, and background a slot
	// per part uploading in the background: partBuffers of each at most.
	buffers    chan []byte
	background chan struct{}
}

// New returns a driver over the bucket of p. It checks with HeadBucket
// that the bucket exists and the credentials may use it, so that a wrong
// configuration fails here with a clear error rather than on the first
// request; it fails with ErrUnavailable when S3 cannot be reached.
func New(ctx context.Context, p Params) (*Driver, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := newClient(ctx, p)
	if err != nil {
		return nil, err
	}
	d := &driver{
		p:       p,
		client:  client,
		presign: s3.NewPresignClient(client),
		where:   "bucket " + p.Bucket,

		buffers:    make(chan []byte, partBuffers),
		background: make(chan struct{}, partBuffers),
	}
	if p.RootDirectory != "" {
		d.prefix = p.RootDirectory + "/"
	}
	if p.RegionEndpoint != "" {
		d.where += " at " + p.RegionEndpoint
	} else {
		d.where += " in " + p.Region
	}
	if err := d.checkBucket(ctx); err != nil {
		return nil, err
	}
	b := storagedriver.NewBase(d)
	return &Driver{Base: b, BaseWalker: b.Walker(d), BaseOpener: b.Opener(d),
		BaseRedirector: b.Redirector(d), BasePurger: b.Purger(d), BaseActivity: b.Activity(d), be: d}, nil
}

// newClient is the S3 client of p, which withDefaults has checked:
// credentials, endpoint choice (regionendpoint, or AWS's endpoints with
// dual-stack, FIPS or Transfer Acceleration), timeouts, retries, logging.
func newClient(ctx context.Context, p Params) (*s3.Client, error) {
	conns := int(max(p.MultipartCopyMaxConcurrency, 16))
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(p.Region),
		awsconfig.WithHTTPClient(newHTTPClient(p.Timeout, p.SkipVerify, conns)),
		awsconfig.WithRetryer(func() aws.Retryer { return newRetryer(p.MaxAttempts) }),
	}
	if p.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(p.AccessKey, p.SecretKey, p.SessionToken)))
	}
	logMode, _ := clientLogMode(p.LogLevel) // withDefaults checked it
	if logMode != 0 {
		opts = append(opts, awsconfig.WithClientLogMode(logMode))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if p.RegionEndpoint != "" {
			o.BaseEndpoint = aws.String(p.RegionEndpoint)
		}
		o.UsePathStyle = p.ForcePathStyle
		o.UseAccelerate = p.Accelerate
		if p.UseDualStack {
			o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		}
		if p.UseFIPSEndpoint {
			o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
		if p.UserAgent != "" {
			o.APIOptions = append(o.APIOptions, userAgent(p.UserAgent))
		}
		// Checksums only where S3 demands them (DeleteObjects): many
		// S3-compatible servers refuse the SDK's default trailing
		// checksums, and SigV4 already signs the payload's SHA-256.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// userAgent adds ua to the SDK's User-Agent. The SDK replaces characters
// outside HTTP's token set with "-", so "name/version" goes in as a key and
// a value to keep its "/".
func userAgent(ua string) func(*middleware.Stack) error {
	if name, version, ok := strings.Cut(ua, "/"); ok {
		return awsmiddleware.AddUserAgentKeyValue(name, version)
	}
	return awsmiddleware.AddUserAgentKey(ua)
}

// checkBucket reports a missing bucket, refused credentials or an
// unreachable server in words an operator can act on.
func (d *driver) checkBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.p.Timeout)
	defer cancel()
	_, err := d.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(d.p.Bucket)})
	if err == nil {
		return nil
	}
	var resp *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
		// The answer to a HEAD has no body, hence no error code, and
		// servers differ in the status they give an unknown access key:
		// a listing says which it is.
		_, lerr := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.p.Bucket), MaxKeys: aws.Int32(1)})
		if apiCode(lerr) != "" {
			err = lerr
		}
	}
	switch code := apiCode(err); {
	case code == "NoSuchBucket" || (code == "" && status == http.StatusNotFound):
		return fmt.Errorf("s3: %s: the bucket does not exist", d.where)
	case code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Errorf("s3: %s: access denied: check storage.s3.accesskey and secretkey (or the default credential chain when they are empty): %w", d.where, err)
	case status == http.StatusMovedPermanently:
		return fmt.Errorf("s3: %s: the bucket is not in region %s: %w", d.where, d.p.Region, err)
	case errors.Is(err, context.DeadlineExceeded) || unreachable(err):
		return fmt.Errorf("s3: %s: cannot reach S3: %w: %w", d.where, storagedriver.ErrUnavailable, err)
	}
	return fmt.Errorf("s3: %s: %w", d.where, err)
}

// Name returns "s3".
func (d *driver) Name() string { return "s3" }

// String says where the driver stores, for the start-up line: "s3 bucket
// images in eu-west-1, root /registry".
func (d *driver) String() string {
	s := "s3 " + d.where
	if d.p.RootDirectory != "" {
		s += ", root /" + d.p.RootDirectory
	}
	return s
}

// key is the object key of file path p.
func (d *driver) key(p string) string { return d.prefix + p[1:] }

// dirPrefix is the key prefix of everything below directory p.
func (d *driver) dirPrefix(p string) string {
	if p == "/" {
		return d.prefix
	}
	return d.key(p) + "/"
}

// tailKey is the key of the tail of the pending write of p.
func (d *driver) tailKey(p string) string { return d.prefix + pendingDir + p }

// pathOf is the path of key, or "" when the key is no valid path (the
// pending tails, or anything else stored under the root by another tool).
func (d *driver) pathOf(key string) string {
	rest, ok := strings.CutPrefix(key, d.prefix)
	if !ok {
		return ""
	}
	p := "/" + rest
	if storagedriver.CheckPath(p) != nil {
		return ""
	}
	return p
}

// GetContent returns the object at p. ErrPathNotFound when there is none;
// ErrUnavailable when S3 cannot be reached.
func (d *driver) GetContent(ctx context.Context, p string) ([]byte, error) {
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(p))})
	if err != nil {
		return nil, fail(ctx, "GetObject", p, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fail(ctx, "GetObject", p, err)
	}
	return b, nil
}

// PutContent stores content at p with one PutObject, which S3 makes
// visible whole or not at all.
func (d *driver) PutContent(ctx context.Context, p string, content []byte) error {
	return d.putObject(ctx, "PutObject", p, d.key(p), content, nil)
}

func (d *driver) putObject(ctx context.Context, op, p, key string, content []byte, meta map[string]string) error {
	in := &s3.PutObjectInput{
		Bucket:        &d.p.Bucket,
		Key:           aws.String(key),
		Body:          bytes.NewReader(content),
		ContentLength: aws.Int64(int64(len(content))),
		ContentType:   aws.String("application/octet-stream"),
		Metadata:      meta,
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = d.storageOptions()
	in.ACL = types.ObjectCannedACL(d.p.ObjectACL)
	_, err := d.client.PutObject(ctx, in)
	return fail(ctx, op, p, err)
}

// storageOptions are the storage class and encryption of new objects.
func (d *driver) storageOptions() (types.StorageClass, types.ServerSideEncryption, *string) {
	var sse types.ServerSideEncryption
	var keyID *string
	if d.p.Encrypt {
		sse = types.ServerSideEncryptionAes256
		if d.p.KeyID != "" {
			sse, keyID = types.ServerSideEncryptionAwsKms, aws.String(d.p.KeyID)
		}
	}
	return types.StorageClass(d.p.StorageClass), sse, keyID
}

// Reader streams the object at p from offset with a ranged GET.
// ErrPathNotFound when there is none; ErrInvalidOffset when offset is
// negative or past its end.
func (d *driver) Reader(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%s at %d: %w", p, offset, storagedriver.ErrInvalidOffset)
	}
	body, err := d.getRange(ctx, p, offset, 0)
	if err == nil || apiCode(err) != "InvalidRange" {
		return body, err
	}
	// S3 refuses a range that starts at the end; that offset is valid
	// and reads nothing.
	fi, serr := d.statFile(ctx, p)
	if serr != nil {
		return nil, serr
	}
	if offset == fi.Size {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return nil, fmt.Errorf("%s at %d of %d: %w", p, offset, fi.Size, storagedriver.ErrInvalidOffset)
}

// getRange GETs the object at p from offset, to end (exclusive) when end
// is after offset, else to its end. The raw InvalidRange error of an
// offset at or past the end is returned as is, for the caller.
func (d *driver) getRange(ctx context.Context, p string, offset, end int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(p))}
	switch {
	case end > offset:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, end-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := d.client.GetObject(ctx, in)
	if err != nil {
		if apiCode(err) == "InvalidRange" {
			return nil, err
		}
		return nil, fail(ctx, "GetObject", p, err)
	}
	return out.Body, nil
}
