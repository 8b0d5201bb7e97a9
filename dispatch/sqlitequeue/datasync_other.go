//go:build !linux

package sqlitequeue

import "os"

// datasync flushes f to the disk: os.File.Sync (fsync(2); F_FULLFSYNC on macOS, as
// SQLite's fullfsync).
func datasync(f *os.File) error { return f.Sync() }
