package sqlitequeue

import (
	"errors"
	"os"
	"syscall"
)

// datasync flushes f's data, and the metadata needed to read it back (its size), to the
// disk: fdatasync(2), as SQLite's own syncs on Linux.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
