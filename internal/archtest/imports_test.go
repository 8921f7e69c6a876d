package archtest

import (
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/berth-registry/berth"

// Third-party modules the leaf packages may use.
const (
	imageSpec = "github.com/opencontainers/image-spec/..."
	goDigest  = "github.com/opencontainers/go-digest"
	yaml      = "gopkg.in/yaml.v3"
)

// rule says what the packages matching pkg (a path in the module; "/..."
// takes the subtree) may import: only std and allow when allow is set,
// never what deny matches unless but matches it. except lists packages the
// rule does not hold for, each with the reason.
type rule struct {
	pkg    string
	allow  []string // nil: anything not denied
	deny   []string
	but    []string // exceptions to deny
	except map[string]string
	why    string
}

// The server side of the module, which the agent stays out of.
var serverSide = []string{module + "/registry/...", module + "/auth/...", module + "/storagedriver/..."}

var rules = []rule{
	{pkg: "internal/oci", allow: []string{imageSpec, goDigest, yaml},
		why: "the spec primitives are a leaf"},
	{pkg: "internal/iox", allow: []string{}, why: "io adapters need only the standard library"},
	{pkg: "internal/parallel", allow: []string{"golang.org/x/sync/..."}, why: "a leaf over errgroup"},
	{pkg: "internal/keylock", allow: []string{}, why: "mutexes by key need only the standard library"},
	{pkg: "internal/exepages", allow: []string{}, why: "madvise of the executable's mappings needs only the standard library"},
	{pkg: "hostagent/errdefs", allow: []string{module + "/internal/oci"}, why: "error classes are a leaf of the agent"},
	{pkg: "hostagent/store",
		allow: []string{imageSpec, goDigest, module + "/internal/oci", module + "/internal/iox", module + "/hostagent/errdefs"},
		why:   "the store never speaks to a registry (fills take an opener) and knows nothing of the agent above it"},
	{pkg: "hostagent/layer",
		allow: []string{imageSpec, "golang.org/x/sys/unix", module + "/internal/oci", module + "/internal/iox", module + "/hostagent/errdefs"},
		why:   "layers are applied and made from the standard library alone"},
	{pkg: "hostagent/archive",
		allow: []string{imageSpec, goDigest, "github.com/klauspost/compress/...",
			module + "/hostagent/store", module + "/hostagent/layer", module + "/hostagent/errdefs",
			module + "/internal/oci", module + "/internal/iox"},
		why: "archives use the store and the leaf packages, never a registry"},
	{pkg: "hostagent/osimage",
		allow: []string{imageSpec, goDigest, "github.com/Microsoft/go-winio/wim/...", module + "/hostagent/osimage/xpress",
			module + "/hostagent/store", module + "/hostagent/layer", module + "/hostagent/archive", module + "/hostagent/errdefs",
			module + "/internal/oci", module + "/internal/iox"},
		why: "OS images from files: the WIM reader, the store and the leaf packages; never a registry"},
	{pkg: "hostagent/osimage/xpress", allow: []string{}, why: "a decompressor needs only the standard library"},
	{pkg: "hostagent/foreign",
		allow: []string{imageSpec, module + "/hostagent/store", module + "/hostagent/errdefs"},
		why:   "foreign layers come from their URLs into the store; the registry fallback is the caller's"},
	{pkg: "hostagent/mirror",
		allow: []string{imageSpec, goDigest, yaml, "golang.org/x/time/rate",
			module + "/hostagent/store", module + "/hostagent/foreign", module + "/hostagent/errdefs", module + "/internal/oci",
			module + "/internal/yamlx", module + "/internal/parallel", module + "/internal/keylock", module + "/registry/client"},
		why: "sync uses the store, foreign-layer fetching, the leaf packages and the registry client only"},
	{pkg: "hostagent/...", deny: serverSide, but: []string{module + "/registry/client/..."},
		why: "of the registry, the agent imports only registry/client"},
	{pkg: "cmd/hostagent", deny: serverSide, but: []string{module + "/registry/client/..."},
		why: "of the registry, the agent's CLI imports only registry/client"},
	{pkg: "registry/...", deny: []string{module + "/hostagent/...", module + "/cmd/..."}, why: "the server never imports the agent"},
	{pkg: "auth/...", deny: []string{module + "/hostagent/..."}, why: "the server never imports the agent"},
	{pkg: "storagedriver/...", deny: []string{module + "/hostagent/...", module + "/registry/storage/..."},
		why: "drivers never import registry/storage (nor the agent)"},
	{pkg: "registry/storage/internal/blobio", allow: []string{},
		why: "the storage package's byte helpers take io types and need only the standard library"},
	{pkg: "registry/storage/internal/layout", allow: []string{goDigest},
		why: "the storage layout is pure key-building over digests"},
	{pkg: "registry/storage/internal/periodic", allow: []string{},
		why: "the background flush loop needs only the standard library"},
	{pkg: "registry/storage/internal/check", allow: []string{goDigest, module + "/internal/oci"},
		why: "the error classes and input checks are a leaf every part of the storage shares"},
	{pkg: "registry/storage/internal/manifest",
		allow: []string{imageSpec, goDigest, module + "/internal/oci", module + "/registry/storage/internal/check"},
		why:   "the manifest parser is pure: bytes in, a document or an error out"},
	{pkg: "registry/storage/internal/memcache", allow: []string{goDigest, module + "/registry/storage/internal/manifest", module + "/registry/storage/internal/blobio"},
		why: "the manifest cache holds entries under locks; when to trust them is the store's"},
	{pkg: "registry/storage/internal/lease",
		allow: []string{module + "/storagedriver", module + "/registry/storage/internal/layout"},
		why:   "garbage collection's lease needs the driver and a clock, nothing of the store"},
	{pkg: "registry/storage/internal/walk",
		allow: []string{goDigest, module + "/storagedriver", module + "/registry/storage/internal/layout", module + "/registry/storage/internal/check"},
		why:   "the layout's walks take a driver, nothing of the store"},
	{pkg: "registry/storage/internal/times",
		allow: []string{goDigest, module + "/storagedriver", module + "/registry/storage/internal/layout"},
		why:   "push and pull time records are files through the driver and a log in memory"},
	{pkg: "registry/storage/internal/repoindex",
		allow: []string{module + "/storagedriver", module + "/registry/storage/internal/layout",
			module + "/registry/storage/internal/check", module + "/registry/storage/internal/walk"},
		why: "the repository index needs the driver, a clock and the layout's walks, nothing of the store"},
	{pkg: "registry/storage/internal/usage",
		allow: []string{goDigest, module + "/storagedriver", module + "/registry/storage/internal/layout",
			module + "/registry/storage/internal/check", module + "/registry/storage/internal/walk"},
		why: "usage reads the layout through the driver, nothing of the store"},
	{pkg: "registry/storage/purge",
		allow: []string{module + "/storagedriver", module + "/registry/storage/internal/layout",
			module + "/registry/storage/internal/check", module + "/registry/storage/internal/walk"},
		why: "the upload purger works through the driver and never through a store"},
	{pkg: "registry/storage/repometa",
		allow: []string{imageSpec, goDigest, module + "/registry/storage", module + "/registry/storage/internal/periodic",
			module + "/storagedriver", module + "/internal/oci"},
		why: "the metadata records are built on the store's API and the driver; never the HTTP layer or the web UI"},
	{pkg: "registry/storage/...", deny: []string{module + "/registry", "github.com/gorilla/mux"},
		why: "storage never imports the HTTP layer"},
	{pkg: "auth/...", deny: []string{module + "/registry/storage/..."}, why: "auth never imports storage"},
	{pkg: "...", deny: []string{module + "/internal/testutil/..."},
		except: map[string]string{
			"internal/testutil/...": "the test helpers themselves",
			"internal/bench/...":    "the benchmark harness behind cmd/regbench is test tooling itself (it uses testutil's process helpers)",
		},
		why: "no production package imports the test helpers"},
	{pkg: "...", deny: []string{"testing"},
		except: map[string]string{
			"internal/testutil/...": "the test helpers themselves",
		},
		why: "no production package imports testing"},
}

// match reports whether path (in the module, or an import path) matches
// pattern: exact, or its subtree for "x/...", or everything for "...".
func match(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func isStd(imp string) bool { return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }

// productionImports maps each package of the module (its path relative to
// the module root) to what its non-test files import.
func productionImports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(p, build.ImportComment)
		if err != nil {
			if _, ok := errors.AsType[*build.NoGoError](err); ok {
				return nil
			}
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = pkg.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := productionImports(t)
	for _, must := range []string{"hostagent", "hostagent/store", "internal/oci", "registry", "registry/storage", "storagedriver"} {
		if _, ok := pkgs[must]; !ok {
			t.Fatalf("package %s not found: the walk missed the module", must)
		}
	}
	for _, r := range rules {
		matched := 0
		for pkg, imps := range pkgs {
			if !match(r.pkg, pkg) || excepted(r, pkg) {
				continue
			}
			matched++
			for _, imp := range imps {
				if bad := violates(r, imp); bad != "" {
					t.Errorf("%s imports %s: %s (%s)", pkg, imp, bad, r.why)
				}
			}
		}
		if matched == 0 {
			t.Errorf("rule for %s matches no package: stale", r.pkg)
		}
	}
}

func violates(r rule, imp string) string {
	for _, d := range r.deny {
		if match(d, imp) && !slices.ContainsFunc(r.but, func(b string) bool { return match(b, imp) }) {
			return "denied"
		}
	}
	if r.allow == nil || isStd(imp) {
		return ""
	}
	for _, a := range r.allow {
		if match(a, imp) {
			return ""
		}
	}
	return "not among the imports allowed"
}

func excepted(r rule, pkg string) bool {
	for e := range r.except {
		if match(e, pkg) {
			return true
		}
	}
	return false
}
