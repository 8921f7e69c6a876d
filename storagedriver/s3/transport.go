package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berth-registry/berth/storagedriver"
)

// newHTTPClient returns the client of every S3 request. Its connections
// fail any read or write that makes no progress for timeout (idleConn), so
// that a stalled or black-holed server costs one timeout, not a hang; it
// keeps enough idle connections for the parallel parts of a copy. It is the
// SDK's buildable client, so that AWS_CA_BUNDLE and the like still apply,
// with the SDK's own read timeout off: idleConn does that job, and also
// covers the wait for an answer after a long upload.
func newHTTPClient(timeout time.Duration, skipVerify bool, conns int) *awshttp.BuildableClient {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return awshttp.NewBuildableClient().WithReadTimeout(0).WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: timeout}, nil
		}
		tr.TLSHandshakeTimeout = timeout
		// Every pooled connection keeps a read buffer of this size. The
		// blob GETs' reads of up to 1 MiB (registry/blobs.go) bypass it;
		// 64 KiB serves the rest in few system calls (the default is
		// 4 KiB) and keeps a pool of a hundred idle connections at 6 MiB,
		// where 256 KiB made it 25.
		tr.ReadBufferSize = 64 << 10
		tr.ResponseHeaderTimeout = 0
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
		// Shorter than timeout: the pool drops an idle connection before
		// its read deadline could fail a request just handed to it.
		tr.IdleConnTimeout = timeout / 2
		if skipVerify {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true
		}
	})
}

// idleConn moves its deadlines forward on every read and write: an
// operation fails only when the peer has made no progress for timeout. A
// write also moves the read deadline, since the answer to a request comes
// after its last byte is sent.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// newRetryer retries what a retry may cure (refused or reset connections,
// 5xx, throttling, and versitygw's ExistingObjectIsDirectory) with short
// backoffs, but not a timeout: a server that said nothing for a whole
// timeout is unavailable, and the caller should hear so within that
// timeout, not a multiple of it.
//
// ExistingObjectIsDirectory is what versitygw's posix backend answers, with
// 409, when a write races the removal of the directory that holds a key's
// parent (a collector emptying a repository while a push starts an upload
// in it): the same request succeeds once the removal is done. S3 itself
// never sends the code.
func newRetryer(attempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.MaxBackoff = time.Second
		o.Retryables = append([]retry.IsErrorRetryable{
			retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if isTimeout(err) {
					return aws.FalseTernary
				}
				if apiCode(err) == "ExistingObjectIsDirectory" {
					return aws.TrueTernary
				}
				return aws.UnknownTernary
			}),
		}, o.Retryables...)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unreachable reports whether err says the server could not be reached or
// stopped answering: a transport failure, a timeout, or a 5xx or
// throttling answer that outlasted the retries.
func unreachable(err error) bool {
	var (
		send *smithyhttp.RequestSendError
		resp *smithyhttp.ResponseError
		ne   net.Error
		api  smithy.APIError
	)
	switch {
	case errors.As(err, &send), isTimeout(err), errors.As(err, &ne),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &resp) && resp.HTTPStatusCode() >= 500:
		return true
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "Throttling", "ThrottlingException":
			return true
		}
	}
	return false
}

// notFound reports whether err is S3's answer for a missing key, upload or
// range source.
func notFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	case "NoSuchBucket":
		return false
	}
	// HEAD answers carry no body, hence no code.
	var resp *smithyhttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
}

// apiCode is the S3 error code of err, or "".
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// fail turns an error of an S3 call on path p into the driver's error
// classes: the context's own error when ctx has ended, ErrPathNotFound for
// missing keys, ErrUnavailable when S3 could not be reached. The text keeps
// the operation and S3's message, for the log line.
func fail(ctx context.Context, op, p string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("s3 %s %s: %w", op, p, ctx.Err())
	case notFound(err):
		return fmt.Errorf("s3 %s: %w", op, storagedriver.PathNotFound(p))
	case unreachable(err):
		return fmt.Errorf("s3 %s %s: %w: %w", op, p, storagedriver.ErrUnavailable, err)
	}
	return fmt.Errorf("s3 %s %s: %w", op, p, err)
}
