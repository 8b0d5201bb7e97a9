package console_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The console imports the standard library and hookkit only (no web framework, no
// JavaScript toolchain): its direct non-test imports are checked with go list.
func TestImportsStdlibAndHookkitOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err)
	out, err := exec.Command(goTool, "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	imports := strings.Fields(string(out))
	require.Contains(t, imports, "html/template")
	for _, p := range imports {
		first, _, _ := strings.Cut(p, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(p, "github.com/hookkit/hookkit/") {
			t.Errorf("console imports %s", p)
		}
	}
}
