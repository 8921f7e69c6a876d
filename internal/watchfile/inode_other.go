//go:build !unix

package watchfile

import "io/fs"

func inodeOf(fs.FileInfo) uint64 { return 0 }

func ownerOf(fs.FileInfo) uint64 { return 0 }
