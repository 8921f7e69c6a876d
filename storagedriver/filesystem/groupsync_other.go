//go:build !linux

package filesystem

// group is group commit, Linux only (groupsync_linux.go): elsewhere every
// durable write fsyncs its own file and directories.
type group struct{}

const groupSmall = 0

func newGroup(string) *group { return nil }

func (g *group) use() *group { return nil }

func (g *group) sync() error { return nil }

type mark struct{}

func (g *group) mark() mark { return mark{} }

func (g *group) syncAfter(mark) error { return nil }

// syncAll makes past deletions durable: nothing here. Berth's promise
// that an acknowledged deletion survives a crash of the machine holds on
// Linux.
func syncAll(string) error { return nil }
