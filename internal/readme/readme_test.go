// Package readme_test proves that every Go code block in README.md compiles against the
// current module. Each ```go block must be preceded by an HTML comment that says how to
// compile it:
//
//	<!-- compile: body imports=context,net/http,github.com/hookkit/hookkit/sender -->
//	<!-- compile: file -->
//
// "body" blocks are placed inside a function of a generated main package with the listed
// imports; "file" blocks are complete files. Unused variables and imports fail the build,
// so a snippet cannot drift from the API it shows.
package readme_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var directive = regexp.MustCompile(`^<!-- compile: (body|file)(?: imports=([^ ]*))? -->$`)

type block struct {
	line    int
	kind    string
	imports []string
	code    string
}

// parseBlocks returns the Go blocks of a Markdown document with their compile directives.
// A Go block without a directive is an error, so no snippet escapes the check.
func parseBlocks(md string) ([]block, error) {
	lines := strings.Split(md, "\n")
	var out []block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		start := i + 1
		b := block{line: start}
		// The directive is the nearest non-blank line above the fence.
		j := i - 1
		for j >= 0 && strings.TrimSpace(lines[j]) == "" {
			j--
		}
		m := []string(nil)
		if j >= 0 {
			m = directive.FindStringSubmatch(strings.TrimSpace(lines[j]))
		}
		if m == nil {
			return nil, fmt.Errorf("README.md:%d: go block without a <!-- compile: ... --> directive", start)
		}
		b.kind = m[1]
		if m[2] != "" {
			b.imports = strings.Split(m[2], ",")
		}
		var code []string
		for i = start; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code = append(code, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("README.md:%d: unterminated go block", start)
		}
		b.code = strings.Join(code, "\n")
		out = append(out, b)
	}
	return out, nil
}

func (b block) source() string {
	if b.kind == "file" {
		return b.code + "\n"
	}
	var s strings.Builder
	s.WriteString("package main\n\nimport (\n")
	for _, imp := range b.imports {
		fmt.Fprintf(&s, "\t%q\n", imp)
	}
	s.WriteString(")\n\nfunc main() {}\n\nfunc snippet() {\n")
	s.WriteString(b.code)
	s.WriteString("\n}\n")
	return s.String()
}

func TestParseBlocksRequiresDirective(t *testing.T) {
	_, err := parseBlocks("text\n\n```go\nx := 1\n```\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "without a <!-- compile")

	blocks, err := parseBlocks("<!-- compile: body imports=fmt,os -->\n```go\nfmt.Println(os.Args)\n```\n")
	require.NoError(t, err)
	require.Len(t, blocks, 1)
	assert.Equal(t, []string{"fmt", "os"}, blocks[0].imports)
	assert.Equal(t, "fmt.Println(os.Args)", blocks[0].code)
}

func TestREADMEGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every README snippet with the go command")
	}
	md, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks, err := parseBlocks(string(md))
	require.NoError(t, err)
	require.NotEmpty(t, blocks, "README.md shows no Go code")

	// Generated packages live inside the module so they build against this checkout.
	root, err := os.MkdirTemp(".", "snippets-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	var pkgs []string
	for i, b := range blocks {
		dir := filepath.Join(root, fmt.Sprintf("b%02d", i))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(b.source()), 0o644))
		pkgs = append(pkgs, "./"+filepath.ToSlash(dir))
	}
	cmd := exec.Command("go", append([]string{"vet"}, pkgs...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		for i, b := range blocks {
			t.Logf("block %d (README.md:%d):\n%s", i, b.line, b.source())
		}
		t.Fatalf("README snippets do not compile: %v\n%s", err, out.String())
	}
}
