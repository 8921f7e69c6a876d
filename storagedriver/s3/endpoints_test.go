package s3

import (
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAWSEndpointKeys proves that usedualstack, usefipsendpoint and
// accelerate choose AWS's endpoints, by presigning (which resolves the
// endpoint without a request).
func TestAWSEndpointKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Params)
		host string
	}{
		{"default", func(*Params) {}, "bucket1.s3.eu-west-1.amazonaws.com"},
		{"usedualstack", func(p *Params) { p.UseDualStack = true }, "bucket1.s3.dualstack.eu-west-1.amazonaws.com"},
		{"usefipsendpoint", func(p *Params) { p.UseFIPSEndpoint = true }, "bucket1.s3-fips.eu-west-1.amazonaws.com"},
		{"accelerate", func(p *Params) { p.Accelerate = true }, "bucket1.s3-accelerate.amazonaws.com"},
		{"accelerate and dual-stack", func(p *Params) { p.Accelerate, p.UseDualStack = true, true }, "bucket1.s3-accelerate.dualstack.amazonaws.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Params{Bucket: "bucket1", Region: "eu-west-1", AccessKey: "a", SecretKey: "s"}
			tc.edit(&p)
			p, err := p.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			c, err := newClient(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			req, err := s3.NewPresignClient(c).PresignGetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("bucket1"), Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			if u, _ := url.Parse(req.URL); u.Host != tc.host {
				t.Errorf("endpoint %s, want %s", u.Host, tc.host)
			}
		})
	}
}

func TestDistributionKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		want string
	}{
		{"sessiontoken alone", Params{Bucket: "b", Region: "r", SessionToken: "t"}, "s3: sessiontoken goes with accesskey and secretkey"},
		{"accelerate with an endpoint", Params{Bucket: "b", RegionEndpoint: "http://127.0.0.1:1", Accelerate: true}, "s3: accelerate uses AWS's Transfer Acceleration endpoint"},
		{"loglevel", Params{Bucket: "b", Region: "r", LogLevel: "loud"}, `s3: loglevel "loud": want off, debug`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.p.withDefaults(); err == nil || len(err.Error()) < len(tc.want) || err.Error()[:len(tc.want)] != tc.want {
				t.Errorf("withDefaults: %v, want %s...", err, tc.want)
			}
		})
	}
	for level, want := range map[string]aws.ClientLogMode{
		"off": 0, "debug": aws.LogRequest | aws.LogResponse,
		"debugwithsigning":  aws.LogRequest | aws.LogResponse | aws.LogSigning,
		"debugwithhttpbody": aws.LogRequestWithBody | aws.LogResponseWithBody,
	} {
		if got, err := clientLogMode(level); err != nil || got != want {
			t.Errorf("clientLogMode(%q) = %v, %v; want %v", level, got, err, want)
		}
	}
}
