package layer

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// applyWindows applies layers to sb's root with WindowsFiles.
func (sb *sandbox) applyWindows(t *testing.T, layers ...[]byte) error {
	t.Helper()
	r, err := os.OpenRoot(sb.root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	u := NewUnpacker(r, Limits{})
	u.SetRename(WindowsFiles)
	for _, l := range layers {
		if err := u.Apply(t.Context(), bytes.NewReader(l)); err != nil {
			return err
		}
	}
	return nil
}

// TestUnpackWindowsFiles: of Windows layers only the Files/ tree lands,
// as the root, whiteouts and hard links within it applied; Hives/,
// UtilityVM/, alternate data streams, names that only start with "Files"
// and hard links to outside Files/ are left out.
func TestUnpackWindowsFiles(t *testing.T) {
	sb := newSandbox(t)
	base := hatest.MkTar(t,
		hatest.TarDir("Files/"), hatest.TarDir("Files/Windows/"),
		hatest.TarFile("Files/Windows/a.txt", "a"), hatest.TarFile("Files/Windows/a.txt:Zone.Identifier", "ads"),
		hatest.TarFile("Files/Windows/b.txt", "b"), hatest.TarHardlink("Files/link.txt", "Files/Windows/b.txt"),
		hatest.TarDir("Hives/"), hatest.TarFile("Hives/System_Delta", "regf"), hatest.TarHardlink("Files/hive", "Hives/System_Delta"),
		hatest.TarFile("UtilityVM/Files/x", "x"), hatest.TarFile("Filesystem.txt", "not in Files/"),
	)
	upper := hatest.MkTar(t, hatest.TarFile("Files/Windows/.wh.a.txt", ""), hatest.TarFile("Files/new.txt", "n"))
	if err := sb.applyWindows(t, base, upper); err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range hatest.Tree(t, sb.root) {
		got = append(got, p)
	}
	slices.Sort(got)
	want := []string{".", "Windows", "Windows/b.txt", "link.txt", "new.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("unpacked %q, want %q", got, want)
	}
	if b, err := os.ReadFile(sb.root + "/link.txt"); err != nil || string(b) != "b" {
		t.Errorf("link.txt: %q, %v", b, err)
	}
	sb.untouched(t)

	// Names are checked after the Files/ prefix is gone.
	escape := hatest.MkTar(t, hatest.TarFile("Files/../../outside/secret", "x"))
	if err := newSandbox(t).applyWindows(t, escape); !errors.Is(err, errdefs.ErrUnsafe) {
		t.Errorf("Files/../..: %v, want ErrUnsafe", err)
	}
}
