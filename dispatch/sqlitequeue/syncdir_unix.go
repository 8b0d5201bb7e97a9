//go:build !windows

package sqlitequeue

import "os"

// syncDir fsyncs the directory dir, so that the entries of the files created in it
// survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
