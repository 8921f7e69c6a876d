package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/internal/testutil/s3test"
)

// Storage kinds.
const (
	FS = "fs" // the filesystem driver, in a directory of -workdir
	S3 = "s3" // S3 on a local versitygw, its data in a directory of -workdir
)

// storage is where both registries keep their data in one part of the
// run: the same kind, each in a root of its own, on the same disk.
type storage struct {
	kind string
	dir  string         // under the work directory; removed by close
	s3   *s3test.Server // with S3
	// With S3 and a proxy: the proxy of each registry, by target name.
	proxies map[string]*s3Proxy
}

// newStorage prepares a storage of kind in a new directory of workdir;
// versitygw is the path of its binary, for S3. With proxy, each registry
// reaches S3 through an s3Proxy that adds delay to every request.
func newStorage(kind, workdir, versitygw string, proxy bool, delay time.Duration) (*storage, error) {
	dir, err := os.MkdirTemp(workdir, "regbench-"+kind+"-")
	if err != nil {
		return nil, err
	}
	st := &storage{kind: kind, dir: dir}
	switch kind {
	case FS:
	case S3:
		if versitygw == "" {
			if versitygw, err = exec.LookPath("versitygw"); err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("S3 needs versitygw: load the tools (. \"$(bash hack/tools.sh --env-file)\") or pass -versitygw: %w", err)
			}
		}
		if st.s3, err = s3test.Run(versitygw, filepath.Join(dir, "versitygw")); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("versitygw: %w", err)
		}
		if proxy {
			st.proxies = map[string]*s3Proxy{}
			for _, name := range []string{Berth, Distribution} {
				p, err := startS3Proxy(st.s3.Endpoint, delay)
				if err != nil {
					st.close()
					return nil, fmt.Errorf("S3 proxy: %w", err)
				}
				st.proxies[name] = p
			}
		}
	default:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("unknown storage kind %q (fs or s3)", kind)
	}
	return st, nil
}

// config returns the configuration file of target (Berth or
// Distribution) on addr: the same storage settings for both, as
// Distribution ships them (blob descriptor cache in memory) but with
// blobs served by the registry rather than redirected to S3, and the
// upload purger and per-request logs off.
func (st *storage) config(target, addr string) (string, error) {
	driver := ""
	switch st.kind {
	case FS:
		root := filepath.Join(st.dir, target)
		driver = fmt.Sprintf("  filesystem:\n    rootdirectory: %q\n", root)
	case S3:
		name := "s3"
		if target == Distribution {
			name = "s3aws" // the name its s3-aws driver registers
		}
		p := st.s3.Params(s3test.Bucket, "/"+target)
		if px := st.proxies[target]; px != nil {
			p.RegionEndpoint = "http://" + px.addr
		}
		driver = fmt.Sprintf("  %s:\n    region: %q\n    regionendpoint: %q\n    bucket: %q\n    rootdirectory: %q\n"+
			"    accesskey: %q\n    secretkey: %q\n    forcepathstyle: true\n",
			name, p.Region, p.RegionEndpoint, p.Bucket, p.RootDirectory, p.AccessKey, p.SecretKey)
	}
	// Berth stops at once; Distribution wants a secret, else it makes
	// one up and warns.
	httpExtra := "  draintimeout: 0s\n"
	if target == Distribution {
		httpExtra = "  secret: regbench\n"
	}
	cfg := "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n" +
		"http:\n  addr: " + addr + "\n" + httpExtra +
		"storage:\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n" +
		"  cache:\n    blobdescriptor: inmemory\n  redirect:\n    disable: true\n" + driver
	path := filepath.Join(st.dir, target+".yml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// close stops versitygw and removes everything the storage wrote.
func (st *storage) close() {
	for _, p := range st.proxies {
		p.close()
	}
	if st.s3 != nil {
		st.s3.Stop()
	}
	os.RemoveAll(st.dir)
}
