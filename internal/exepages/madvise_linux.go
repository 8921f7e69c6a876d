package exepages

import "syscall"

const supported = true

// dontNeed advises MADV_DONTNEED on [addr, addr+n): for a private file
// mapping never written, the pages leave the resident set and a later
// touch maps them again from the file.
func dontNeed(addr, n uintptr) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, syscall.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}
