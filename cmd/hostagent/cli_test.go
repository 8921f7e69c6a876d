package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// registries starts Berth and distribution/v3 in-process: name → host.
func registries(t *testing.T) map[string]string {
	t.Helper()
	b := registrytest.Start(t, inmemory.New(), registry.WithDelete(true))
	d := hatest.StartDistribution(t, nil)
	return map[string]string{"berth": b.Host, "distribution": d.Host}
}

func testImages(t *testing.T, seed string) (base, app *hatest.Image) {
	t.Helper()
	layers := [][]hatest.File{{{Name: "etc/os-release", Data: []byte("ID=" + seed + "\n")}}}
	base = hatest.NewImage(t, hatest.Spec{
		Layers:      layers,
		Annotations: map[string]string{v1.AnnotationVendor: "Hatest OS", v1.AnnotationVersion: "12"},
	})
	app = hatest.NewImage(t, hatest.Spec{
		Layers:      append(slices.Clone(layers), []hatest.File{{Name: "app", Data: hatest.Random(seed, 200<<10)}}),
		Annotations: map[string]string{v1.AnnotationBaseImageDigest: base.Digest.String()},
		Labels:      map[string]string{v1.AnnotationVendor: "Example Corp", v1.AnnotationVersion: "3.1.4"},
	})
	return base, app
}

func TestCLIRoundTrip(t *testing.T) {
	for name, host := range registries(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			base, app := testImages(t, name)
			c := client.New()
			hatest.Push(t, ctx, c, host+"/os/base:12", base)
			hatest.Push(t, ctx, c, host+"/team/app:3.1.4", app)
			ha := newCLI(t)

			out := ha.run(t, "install", host+"/os/base:12")
			if !strings.Contains(out, "installed "+host+"/os/base:12") {
				t.Errorf("install output: %q", out)
			}
			if got := strings.TrimSpace(ha.run(t, "pull", "-q", host+"/team/app:3.1.4")); got != app.Digest.String() {
				t.Errorf("pull -q printed %q, want %s", got, app.Digest)
			}

			table := ha.run(t, "list")
			for _, want := range []string{
				"NAME", "TAG", "PUBLISHER", "VERSION", "OS IMAGE", "OS", "ARCH", "OS VERSION", "IMAGE ID", "SIZE", "CREATED",
			} {
				if !strings.Contains(strings.SplitN(table, "\n", 2)[0], want) {
					t.Errorf("list header lacks %s:\n%s", want, table)
				}
			}
			if !containsLine(table, "Example Corp") || !containsLine(table, "Hatest OS") {
				t.Errorf("list table:\n%s", table)
			}
			imgs := ha.list(t)
			if len(imgs) != 2 || !imgs[0].OSImage || imgs[1].OSImage || imgs[1].Version != "3.1.4" {
				t.Fatalf("list: %+v", imgs)
			}
			if got := ha.list(t, "--filter", "publisher=Example Corp"); len(got) != 1 || got[0].Digest != app.Digest {
				t.Errorf("list --filter publisher: %+v", got)
			}
			if got := strings.Fields(ha.run(t, "images", "-q", "os/*")); !slices.Equal(got, []string{host + "/os/base:12"}) {
				t.Errorf("images -q os/*: %v", got)
			}

			var d hostagent.Details
			if err := json.Unmarshal([]byte(ha.run(t, "inspect", "--format", "json", host+"/team/app:3.1.4")), &d); err != nil {
				t.Fatal(err)
			}
			if d.Base == nil || d.Base.Digest != base.Digest || len(d.Layers) != 2 {
				t.Errorf("inspect: base %+v, %d layers", d.Base, len(d.Layers))
			}
			if text := ha.run(t, "inspect", host+"/team/app:3.1.4"); !strings.Contains(text, "Base image: "+base.Digest.String()) {
				t.Errorf("inspect text:\n%s", text)
			}

			ha.run(t, "tag", host+"/team/app:3.1.4", host+"/team/app:stable")
			pushed := ha.run(t, "push", host+"/team/app:stable")
			if !strings.Contains(pushed, "pushed "+host+"/team/app:stable@"+app.Digest.String()) {
				t.Errorf("push output: %q", pushed)
			}
			if m, err := c.ManifestGet(ctx, mustRef(t, host+"/team/app:stable")); err != nil || m.Descriptor.Digest != app.Digest {
				t.Errorf("registry after push: %v", err)
			}
			ha.run(t, "push", host+"/team/app:stable", host+"/copies/app:1")
			ha.run(t, "untag", host+"/team/app:stable")

			if line := ha.fail(t, exitInUse, "rm", host+"/os/base:12"); !strings.Contains(line, "team/app:3.1.4") {
				t.Errorf("remove in use: %s", line)
			}
			ha.run(t, "remove", host+"/team/app:3.1.4")
			ha.run(t, "remove", host+"/os/base:12")
			if imgs := ha.list(t); len(imgs) != 0 {
				t.Errorf("after remove: %+v", imgs)
			}
			if out := ha.run(t, "prune"); !strings.Contains(out, "deleted 0 blob(s)") {
				t.Errorf("prune after remove: %q", out)
			}
		})
	}
}

// TestCLIErrors: each failure is one line on stderr, its own exit code, and
// leaves the store as it was.
func TestCLIErrors(t *testing.T) {
	ctx := t.Context()
	berth := registrytest.Start(t, inmemory.New())
	auth := hatest.StartDistribution(t, map[string]string{"alice": "right"})
	base, _ := testImages(t, "errors")
	hatest.Push(t, ctx, client.New(), berth.Host+"/ok/img:1", base)
	hatest.Push(t, ctx, client.New(client.WithCredentials(client.StaticCredentials{auth.Host: {Username: "alice", Password: "right"}})),
		auth.Host+"/private/img:1", base)
	down := registrytest.Start(t, inmemory.New())
	down.Close()

	ha := newCLI(t)
	ha.run(t, "install", berth.Host+"/ok/img:1")
	before := ha.snapshot(t)

	for _, tc := range []struct {
		name string
		code int
		args []string
		want string
	}{
		{"unknown image", exitNotFound, []string{"install", berth.Host + "/no/such:image"}, "not found"},
		{"unknown tag", exitNotFound, []string{"install", berth.Host + "/ok/img:nope"}, "not found"},
		{"unknown local image", exitNotFound, []string{"inspect", "nothing/here:1"}, "not found in the store"},
		{"no credentials", exitAuth, []string{"install", auth.Host + "/private/img:1"}, "unauthorized"},
		{"wrong password", exitAuth, []string{"login", auth.Host, "-u", "alice", "-p", "wrong"}, "unauthorized"},
		{"registry down", exitUnavailable, []string{"install", down.Host + "/ok/img:1"}, "unavailable"},
		{"bad reference", exitUsage, []string{"install", "a//b"}, "invalid"},
		{"bad platform", exitUsage, []string{"install", "--platform", "linux", berth.Host + "/ok/img:1"}, "platform"},
		{"unknown command", exitUsage, []string{"frobnicate"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			line := ha.fail(t, tc.code, tc.args...)
			if !strings.Contains(strings.ToLower(line), tc.want) {
				t.Errorf("error line %q does not say %q", line, tc.want)
			}
			t.Logf("%s (%v)", line, time.Since(start).Round(time.Millisecond))
			if after := ha.snapshot(t); after != before {
				t.Errorf("store changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(ha.cmd.Dir, ".docker", "config.json")); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote the docker config: %v", err)
	}
	// The right password is saved, and then installing works.
	ha.cmd.Stdin = []byte("right\n")
	ha.run(t, "login", auth.Host, "-u", "alice", "--password-stdin")
	ha.cmd.Stdin = nil
	ha.run(t, "install", auth.Host+"/private/img:1")
	ha.run(t, "logout", auth.Host)
}

// TestCLIConcurrentInstalls: 8 processes install 8 tags (sharing a layer)
// into one store at once; all succeed and all 8 are listed.
func TestCLIConcurrentInstalls(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	c := client.New()
	shared := []hatest.File{{Name: "shared.bin", Data: hatest.Random("shared", 1<<20)}}
	var want []string
	for i := range 8 {
		tag := fmt.Sprintf("v%d", i)
		img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{shared, {{Name: "own", Data: hatest.Random(tag, 64<<10)}}}})
		hatest.Push(t, ctx, c, srv.Host+"/many/tags:"+tag, img)
		want = append(want, tag)
	}
	ha := newCLI(t)
	var wg sync.WaitGroup
	results := make([]testutil.Result, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ha.cmd.Exec(t, ha.args([]string{"install", fmt.Sprintf("%s/many/tags:v%d", srv.Host, i)})...)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Err != nil {
			t.Errorf("install v%d: %v\n%s", i, r.Err, r.Output())
		}
	}
	if got := tagsOf(ha.list(t)); !slices.Equal(got, want) {
		t.Errorf("tags listed after 8 concurrent installs: %v, want %v", got, want)
	}
	ha.run(t, "verify")
}

// TestCLIResume: an install killed halfway through a layer leaves the bytes
// it had in the ingest area and nothing in the index; the next install asks
// only for the rest.
func TestCLIResume(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	proxy := hatest.NewProxy(t, srv.URL)
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{
		{{Name: "small", Data: []byte("small layer")}},
		{{Name: "big.bin", Data: hatest.Random("resume", 8<<20)}},
	}})
	hatest.Push(t, ctx, client.New(), srv.Host+"/big/img:1", img)
	big := img.Layers[1]
	half := big.Size / 2
	reached := proxy.StallAfter(big.Digest, half)

	ha := newCLI(t)
	ref := proxy.Host + "/big/img:1"
	cmd := exec.Command(hostagentBin, ha.args([]string{"install", ref})...)
	cmd.Env = append(os.Environ(), ha.cmd.Env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(ha.store, "ingest", big.Digest.Encoded())
	deadline := time.After(2 * time.Minute)
	select {
	case <-reached:
	case <-deadline:
		_ = cmd.Process.Kill()
		t.Fatal("the download never got halfway")
	}
	for {
		if fi, err := os.Stat(partial); err == nil && fi.Size() == half {
			break
		}
		select {
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatal("the first half never reached the ingest file")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if imgs := ha.list(t); len(imgs) != 0 {
		t.Fatalf("a killed install left an image in the index: %+v", imgs)
	}
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() != half {
		t.Fatalf("partial download after the kill: %v, %v bytes (want %d)", err, fi.Size(), half)
	}

	proxy.NoStall()
	proxy.Reset()
	out := ha.run(t, "install", ref)
	refetched := proxy.Served(big.Digest)
	t.Logf("layer of %d bytes: %d were on disk after the kill, %d fetched on resume", big.Size, half, refetched)
	if refetched != big.Size-half {
		t.Errorf("resume fetched %d bytes of the layer, want %d (the second half only)", refetched, big.Size-half)
	}
	if !strings.Contains(out, "installed") {
		t.Errorf("install output: %s", out)
	}
	ha.run(t, "verify")
}

func TestCLIVerifyCatchesCorruption(t *testing.T) {
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	_, app := testImages(t, "verify")
	hatest.Push(t, ctx, client.New(), srv.Host+"/v/app:1", app)
	ha := newCLI(t)
	ha.run(t, "install", srv.Host+"/v/app:1")
	if out := ha.run(t, "verify"); !strings.Contains(out, "0 problem(s)") {
		t.Errorf("verify of a good store: %s", out)
	}
	p := filepath.Join(ha.store, "blobs", "sha256", app.Layers[1].Digest.Encoded())
	b, _ := os.ReadFile(p)
	b[100] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := ha.cmd.Exec(t, ha.args([]string{"verify"})...)
	if ee, ok := errors.AsType[*exec.ExitError](r.Err); !ok || ee.ExitCode() != exitCorrupt {
		t.Fatalf("verify of a corrupt store: %v, want exit %d\n%s", r.Err, exitCorrupt, r.Output())
	}
	if !strings.Contains(string(r.Stdout), "CORRUPT "+app.Layers[1].Digest.String()) || !strings.HasPrefix(string(r.Stderr), "hostagent: 1 problem(s)") {
		t.Errorf("verify output:\n%s", r.Output())
	}
}

// TestCLIStoreReadByOtherTools: skopeo and umoci read the store as an OCI
// layout, by tag.
func TestCLIStoreReadByOtherTools(t *testing.T) {
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	ctx := t.Context()
	srv := registrytest.Start(t, inmemory.New())
	base, _ := testImages(t, "skopeo")
	hatest.Push(t, ctx, client.New(), srv.Host+"/read/me:1.0", base)
	ha := newCLI(t)
	ha.run(t, "install", srv.Host+"/read/me:1.0")

	out := testutil.Cmd{Path: skopeo}.Run(t, "inspect", "oci:"+ha.store+":1.0")
	var info struct {
		Digest string
		Labels map[string]string
		Layers []string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	if info.Digest != base.Digest.String() || len(info.Layers) != 1 {
		t.Errorf("skopeo inspect: %+v", info)
	}
	stat := testutil.Cmd{Path: umoci}.Run(t, "stat", "--image", ha.store+":1.0")
	if !strings.Contains(string(stat), "hatest.NewImage") {
		t.Errorf("umoci stat shows no history:\n%s", stat)
	}
}

func mustRef(t *testing.T, s string) client.Reference {
	t.Helper()
	r, err := client.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
