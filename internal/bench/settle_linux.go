package bench

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// settle writes back whatever is dirty on the file system of dir, and is
// not timed: each disk figure and each big push then starts from a clean
// page cache instead of paying for the writeback of the one before it (a
// registry that does not fsync leaves a whole blob dirty behind it).
func settle(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
