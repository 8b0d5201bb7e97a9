package main

import "runtime/debug"

// version reports the module version the binary was built from ("(devel)" in a checkout).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" {
		return "(devel)"
	}
	return bi.Main.Version
}
