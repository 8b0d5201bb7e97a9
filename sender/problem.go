package sender

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxProblemField bounds each text field of a Problem, in bytes; a longer one is cut at a
// character boundary and ends with "…".
const MaxProblemField = 256

// maxProblemBody is the largest problem document read; a longer body is not parsed.
const maxProblemBody = 8 << 10

// Problem is what a receiver said about a delivery it refused, in an RFC 9457 problem
// document (Content-Type application/problem+json), as hookkit's receivers answer: for
// example type "https://hookkit.dev/problems/invalid-signature", title "Invalid
// signature". The text comes from the receiver, so it is sanitised before anyone prints
// it: control and format characters become spaces, runs of white space one space, invalid
// UTF-8 U+FFFD, and each field is at most MaxProblemField bytes. A document larger than
// 8 KiB, or not JSON, gives no Problem.
type Problem struct {
	// Type is the problem type, a URI; "" when the document has none or it is not one
	// word.
	Type string
	// Title is the short, human-readable summary of the problem type.
	Title string
	// Detail explains this occurrence.
	Detail string
}

// String is the problem as one line: "Title: Detail (Type)", without the parts that are empty.
func (p *Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if p.Detail != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Detail)
	}
	if p.Type != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("(" + p.Type + ")")
	}
	return b.String()
}

// isProblemJSON reports whether a Content-Type is application/problem+json.
func isProblemJSON(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/problem+json"
}

// readProblem reads a problem document of at most maxProblemBody bytes from r; nil when
// there is none to read.
func readProblem(r io.Reader) *Problem {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, maxProblemBody+1))
	if err != nil || n > maxProblemBody {
		return nil
	}
	var doc struct {
		Type   any `json:"type"`
		Title  any `json:"title"`
		Detail any `json:"detail"`
	}
	if json.Unmarshal(buf.Bytes(), &doc) != nil {
		return nil
	}
	p := &Problem{Title: sanitize(doc.Title), Detail: sanitize(doc.Detail)}
	if t := sanitize(doc.Type); !strings.Contains(t, " ") {
		p.Type = t
	}
	if *p == (Problem{}) {
		return nil
	}
	return p
}

// sanitize turns a JSON string member into one bounded line of printable text; "" for
// anything that is not a string.
func sanitize(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > MaxProblemField-len("…") {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
