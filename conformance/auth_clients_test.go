package conformance_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/storagedriver"
)

// The real-client auth tests: each client logs in (or passes credentials),
// pushes and pulls where the policy lets it, is refused where it does not,
// and sees in the catalog only what it may pull. They run in both modes,
// on the filesystem driver: access control does not depend on the driver,
// which TestAuthAttacks and TestAuthConformance cover on each.

// authClientFixture is a registry with access control where alice pushed
// public/base:v1 and private/secret:v1.
type authClientFixture struct {
	*authServer
	public, private *testImage
}

func newAuthClientFixture(t *testing.T, mode string) *authClientFixture {
	t.Helper()
	var drv storagedriver.Driver
	for _, d := range registrytest.Drivers() {
		if d.Name == "filesystem" {
			drv = d.New(t)
		}
	}
	s := startAuthRegistry(t, drv, mode, authOptions{policy: authPolicy})
	f := &authClientFixture{authServer: s, public: newTestImage(t, "auth-public"), private: newTestImage(t, "auth-private")}
	pushTestImage(t, s, "alice", "public/base", "v1", f.public)
	pushTestImage(t, s, "alice", "private/secret", "v1", f.private)
	return f
}

// pushTestImage pushes img as user over plain HTTP.
func pushTestImage(t *testing.T, s *authServer, user, repo, tag string, img *testImage) {
	t.Helper()
	authz := s.authHeader(t, user, "repository:"+repo+":pull,push")
	for d, b := range img.blobs {
		req := newRequest(t, "POST", s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), authz, b)
		if resp, body := send(t, req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("push blob to %s: %s %s", repo, resp.Status, body)
		}
	}
	req := newRequest(t, "PUT", s.URL+"/v2/"+repo+"/manifests/"+tag, authz, img.manifest)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if resp, body := send(t, req); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest to %s: %s %s", repo, resp.Status, body)
	}
}

// bobSees is what the catalog shows bob: what he may pull, not
// private/secret.
func bobSees(client string) []string { return []string{"public/base", "team/" + client} }

// mustFail runs a command that access control must refuse.
func mustFail(t *testing.T, c testutil.Cmd, what string, args ...string) {
	t.Helper()
	if r := c.Exec(t, args...); r.Err == nil {
		t.Fatalf("%s succeeded, want it refused:\n%s", what, r.Output())
	}
}

// withStdin is c reading in from standard input.
func withStdin(c testutil.Cmd, in string) testutil.Cmd {
	c.Stdin = []byte(in)
	return c
}

func TestAuthOras(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "oras")
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			f := newAuthClientFixture(t, mode)
			bob, anon := client(t, bin), client(t, bin)
			mustFail(t, withStdin(bob, "wrong"), "oras login with a wrong password",
				"login", "--plain-http", "-u", "bob", "--password-stdin", f.Host)
			withStdin(bob, authUsers["bob"]).Run(t, "login", "--plain-http", "-u", "bob", "--password-stdin", f.Host)

			img := newTestImage(t, "auth-oras-"+mode)
			layout := filepath.Join(bob.Dir, "layout")
			img.writeLayout(t, layout, "v1")
			bob.Run(t, "cp", "--no-tty", "--from-oci-layout", "--to-plain-http", layout+":v1", f.Host+"/team/oras:v1")
			back := filepath.Join(bob.Dir, "back")
			bob.Run(t, "cp", "--no-tty", "--from-plain-http", "--to-oci-layout", f.Host+"/team/oras:v1", back+":v1")
			img.requireLayoutEqual(t, back, "v1")

			mustFail(t, bob, "oras push into private/ as bob",
				"cp", "--no-tty", "--from-oci-layout", "--to-plain-http", layout+":v1", f.Host+"/private/oras:v1")
			mustFail(t, bob, "oras pull of private/secret as bob",
				"cp", "--no-tty", "--from-plain-http", "--to-oci-layout", f.Host+"/private/secret:v1", filepath.Join(bob.Dir, "stolen")+":v1")
			requireSet(t, "oras repo ls as bob", lines(bob.Run(t, "repo", "ls", "--plain-http", f.Host)), bobSees("oras"))

			pub := filepath.Join(anon.Dir, "public")
			anon.Run(t, "cp", "--no-tty", "--from-plain-http", "--to-oci-layout", f.Host+"/public/base:v1", pub+":v1")
			f.public.requireLayoutEqual(t, pub, "v1")
			mustFail(t, anon, "anonymous oras pull of team/oras",
				"cp", "--no-tty", "--from-plain-http", "--to-oci-layout", f.Host+"/team/oras:v1", filepath.Join(anon.Dir, "x")+":v1")
		})
	}
}

func TestAuthCrane(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "crane")
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			f := newAuthClientFixture(t, mode)
			bob, anon, mallory := client(t, bin), client(t, bin), client(t, bin)
			withStdin(bob, authUsers["bob"]).Run(t, "auth", "login", f.Host, "-u", "bob", "--password-stdin")
			// crane auth login only stores credentials; wrong ones fail at use.
			mallory.Run(t, "auth", "login", f.Host, "-u", "bob", "-p", "wrong")

			img := newTestImage(t, "auth-crane-"+mode)
			layout := filepath.Join(bob.Dir, "layout")
			img.writeLayout(t, layout, "v1")
			bob.Run(t, "push", "--insecure", layout, f.Host+"/team/crane:v1")
			pulled := filepath.Join(bob.Dir, "pulled")
			bob.Run(t, "pull", "--insecure", "--format", "oci", f.Host+"/team/crane:v1", pulled)
			img.requireLayoutEqual(t, pulled, "")

			mustFail(t, mallory, "crane push with a wrong password", "push", "--insecure", layout, f.Host+"/team/crane:v2")
			mustFail(t, bob, "crane push into private/ as bob", "push", "--insecure", layout, f.Host+"/private/crane:v1")
			mustFail(t, bob, "crane delete as bob", "delete", "--insecure", f.Host+"/team/crane:v1")
			mustFail(t, bob, "crane manifest of private/secret as bob", "manifest", "--insecure", f.Host+"/private/secret:v1")
			requireSet(t, "crane catalog as bob", lines(bob.Run(t, "catalog", "--insecure", f.Host)), bobSees("crane"))

			if got := anon.Run(t, "manifest", "--insecure", f.Host+"/public/base:v1"); !bytes.Equal(got, f.public.manifest) {
				t.Fatalf("anonymous crane manifest of public/base:\n got %s\nwant %s", got, f.public.manifest)
			}
			mustFail(t, anon, "anonymous crane manifest of team/crane", "manifest", "--insecure", f.Host+"/team/crane:v1")
		})
	}
}

func TestAuthRegctl(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "regctl")
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			f := newAuthClientFixture(t, mode)
			bob, anon := client(t, bin), client(t, bin)
			for _, c := range []testutil.Cmd{bob, anon} {
				c.Run(t, "registry", "set", "--skip-check", "--tls", "disabled", f.Host)
			}
			mustFail(t, withStdin(bob, "wrong"), "regctl registry login with a wrong password",
				"registry", "login", f.Host, "-u", "bob", "--pass-stdin")
			withStdin(bob, authUsers["bob"]).Run(t, "registry", "login", f.Host, "-u", "bob", "--pass-stdin")

			img := newTestImage(t, "auth-regctl-"+mode)
			layout := filepath.Join(bob.Dir, "layout")
			img.writeLayout(t, layout, "v1")
			bob.Run(t, "image", "copy", "ocidir://"+layout+":v1", f.Host+"/team/regctl:v1")
			out := filepath.Join(bob.Dir, "out")
			bob.Run(t, "image", "copy", f.Host+"/team/regctl:v1", "ocidir://"+out+":v1")
			img.requireLayoutEqual(t, out, "v1")

			mustFail(t, bob, "regctl copy into private/ as bob", "image", "copy", "ocidir://"+layout+":v1", f.Host+"/private/regctl:v1")
			mustFail(t, bob, "regctl manifest rm as bob", "manifest", "rm", f.Host+"/team/regctl@"+img.digest.String())
			mustFail(t, bob, "regctl manifest get of private/secret as bob", "manifest", "get", f.Host+"/private/secret:v1")
			requireSet(t, "regctl repo ls as bob", lines(bob.Run(t, "repo", "ls", f.Host)), bobSees("regctl"))

			pub := filepath.Join(anon.Dir, "public")
			anon.Run(t, "image", "copy", f.Host+"/public/base:v1", "ocidir://"+pub+":v1")
			f.public.requireLayoutEqual(t, pub, "v1")
			mustFail(t, anon, "anonymous regctl manifest get of team/regctl", "manifest", "get", f.Host+"/team/regctl:v1")
		})
	}
}

func TestAuthSkopeo(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "skopeo")
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			f := newAuthClientFixture(t, mode)
			bob, carol, anon := client(t, bin), client(t, bin), client(t, bin)
			mustFail(t, withStdin(bob, "wrong"), "skopeo login with a wrong password",
				"login", "--tls-verify=false", "-u", "bob", "--password-stdin", f.Host)
			withStdin(bob, authUsers["bob"]).Run(t, "login", "--tls-verify=false", "-u", "bob", "--password-stdin", f.Host)

			img := newTestImage(t, "auth-skopeo-"+mode)
			layout := filepath.Join(bob.Dir, "layout")
			img.writeLayout(t, layout, "v1")
			cp := func(c testutil.Cmd, args ...string) testutil.Result {
				return c.Exec(t, append([]string{"--insecure-policy", "copy", "--quiet", "--preserve-digests"}, args...)...)
			}
			ok := func(r testutil.Result) {
				t.Helper()
				if r.Err != nil {
					t.Fatalf("skopeo copy: %v\n%s", r.Err, r.Output())
				}
			}
			ok(cp(bob, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+f.Host+"/team/skopeo:v1"))
			out := filepath.Join(bob.Dir, "out")
			ok(cp(bob, "--src-tls-verify=false", "docker://"+f.Host+"/team/skopeo:v1", "oci:"+out+":v1"))
			img.requireLayoutEqual(t, out, "v1")
			if r := cp(bob, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+f.Host+"/private/skopeo:v1"); r.Err == nil {
				t.Fatal("skopeo copy into private/ as bob succeeded")
			}

			// --creds, without a login: carol may pull shared/ and public/,
			// not team/.
			creds := "carol:" + authUsers["carol"]
			pub := filepath.Join(carol.Dir, "public")
			ok(cp(carol, "--src-tls-verify=false", "--src-creds", creds, "docker://"+f.Host+"/public/base:v1", "oci:"+pub+":v1"))
			f.public.requireLayoutEqual(t, pub, "v1")
			mustFail(t, carol, "skopeo inspect of team/skopeo as carol",
				"inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://"+f.Host+"/team/skopeo:v1")
			mustFail(t, carol, "skopeo with a wrong --creds password",
				"inspect", "--raw", "--tls-verify=false", "--creds", "carol:wrong", "docker://"+f.Host+"/public/base:v1")

			if got := anon.Run(t, "inspect", "--raw", "--tls-verify=false", "docker://"+f.Host+"/public/base:v1"); !bytes.Equal(got, f.public.manifest) {
				t.Fatalf("anonymous skopeo inspect of public/base:\n got %s\nwant %s", got, f.public.manifest)
			}
			mustFail(t, anon, "anonymous skopeo inspect of private/secret",
				"inspect", "--raw", "--tls-verify=false", "docker://"+f.Host+"/private/secret:v1")
		})
	}
}

// The Docker daemon is shared: image names carry the port to stay unique.
func dockerName(f *authClientFixture, repo string) string {
	return fmt.Sprintf("%s/%s:v1", f.Host, repo)
}

func TestAuthDocker(t *testing.T) {
	t.Parallel()
	dockerBin := testutil.RequireDocker(t)
	busybox := testutil.RequireTool(t, "busybox")
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			f := newAuthClientFixture(t, mode)
			docker := testutil.Cmd{Path: dockerBin, Env: append(clientEnv(t), "DOCKER_BUILDKIT=0"), Dir: t.TempDir()}
			port := f.Host[strings.LastIndexByte(f.Host, ':')+1:]
			base := fmt.Sprintf("berth-e2e-auth-base:%s-%s", mode, port)
			team, private, public := dockerName(f, "team/docker"), dockerName(f, "private/docker"), dockerName(f, "public/docker")
			t.Cleanup(func() { docker.Exec(t, "rmi", "-f", team, private, public, base) })

			rootfs := filepath.Join(docker.Dir, "rootfs.tar")
			writeFile(t, rootfs, busyboxRootfs(t, busybox))
			docker.Run(t, "import", rootfs, base)
			for _, ref := range []string{team, private, public} {
				docker.Run(t, "tag", base, ref)
			}
			login := func(user, password string) testutil.Result {
				return withStdin(docker, password).Exec(t, "login", "-u", user, "--password-stdin", f.Host)
			}
			if r := login("bob", "wrong"); r.Err == nil {
				t.Fatalf("docker login with a wrong password succeeded:\n%s", r.Output())
			}
			if r := login("bob", authUsers["bob"]); r.Err != nil {
				t.Fatalf("docker login as bob: %v\n%s", r.Err, r.Output())
			}
			if mode == authModeToken {
				// docker keeps the token server's refresh token, not the password.
				cfg := ""
				for _, e := range docker.Env {
					if dir, ok := strings.CutPrefix(e, "DOCKER_CONFIG="); ok {
						cfg = string(readFileBytes(t, filepath.Join(dir, "config.json")))
					}
				}
				if !strings.Contains(cfg, `"identitytoken"`) {
					t.Errorf("docker config after token login holds no identity token:\n%s", cfg)
				}
			}
			docker.Run(t, "push", team)
			mustFail(t, docker, "docker push into private/ as bob", "push", private)
			mustFail(t, docker, "docker push into public/ as bob", "push", public)

			if r := login("alice", authUsers["alice"]); r.Err != nil {
				t.Fatalf("docker login as alice: %v\n%s", r.Err, r.Output())
			}
			docker.Run(t, "push", private)
			docker.Run(t, "push", public)

			// Pulls, with nothing left locally.
			docker.Run(t, "rmi", team, private, public)
			if r := login("bob", authUsers["bob"]); r.Err != nil {
				t.Fatalf("docker login as bob again: %v\n%s", r.Err, r.Output())
			}
			docker.Run(t, "pull", team)
			mustFail(t, docker, "docker pull of private/ as bob", "pull", private)
			if out := docker.Run(t, "run", "--rm", "--network", "none", team, "ls", "/bin/busybox"); !bytes.Contains(out, []byte("busybox")) {
				t.Fatalf("the pulled image did not run: %s", out)
			}
			docker.Run(t, "logout", f.Host)
			mustFail(t, docker, "anonymous docker pull of team/", "pull", team)
			// Logged out, docker answers a Basic challenge on /v2/ by giving
			// up ("no basic auth credentials"), so anonymous pulls with
			// docker need token mode, where it fetches an anonymous token.
			if mode == authModeToken {
				docker.Run(t, "pull", public)
			}
		})
	}
}

// TestAuthSkopeoDelete: skopeo (containers/image) asks the token server for
// repository:NAME:* before a DELETE. The token must carry delete exactly
// when the policy grants it: alice (delete everywhere) removes the
// manifest, bob (pull and push in team/) is refused and it stays.
func TestAuthSkopeoDelete(t *testing.T) {
	t.Parallel()
	bin := testutil.RequireTool(t, "skopeo")
	f := newAuthClientFixture(t, authModeToken)
	img := newTestImage(t, "auth-skopeo-delete")
	pushTestImage(t, f.authServer, "alice", "team/skopeo-delete", "v1", img)
	manifest := f.URL + "/v2/team/skopeo-delete/manifests/" + img.digest.String()
	status := func() int {
		t.Helper()
		req := newRequest(t, "HEAD", manifest, f.authHeader(t, "alice", "repository:team/skopeo-delete:pull"), nil)
		resp, _ := send(t, req)
		return resp.StatusCode
	}
	del := func(user string) testutil.Result {
		return client(t, bin).Exec(t, "delete", "--tls-verify=false", "--creds", user+":"+authUsers[user],
			"docker://"+f.Host+"/team/skopeo-delete:v1")
	}

	if r := del("bob"); r.Err == nil {
		t.Fatalf("skopeo delete as bob, who may not delete, succeeded:\n%s", r.Output())
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("after bob's refused delete the manifest answers %d, want 200", got)
	}
	if r := del("alice"); r.Err != nil {
		t.Fatalf("skopeo delete as alice: %v\n%s", r.Err, r.Output())
	}
	if got := status(); got != http.StatusNotFound {
		t.Fatalf("after alice's delete the manifest answers %d, want 404", got)
	}
}
