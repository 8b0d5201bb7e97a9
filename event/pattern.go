package event

import (
	"fmt"
	"strings"
)

// Pattern selects event types: "*" matches every type, "envelope-*" every type that starts
// with "envelope-", and any other pattern exactly one type. The zero Pattern matches nothing.
type Pattern struct {
	s      string
	prefix string // the part before '*' when wildcard is set
	wild   bool
}

// ParsePattern parses an exact type name, "*", or a prefix followed by one trailing '*'.
// A '*' anywhere else, or an invalid type name, is an error wrapping ErrInvalidPattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "*" {
		return Pattern{s: s, wild: true}, nil
	}
	if prefix, ok := strings.CutSuffix(s, "*"); ok {
		if err := validatePrefix(prefix); err != nil {
			return Pattern{}, fmt.Errorf("%w %q: %v", ErrInvalidPattern, s, err)
		}
		return Pattern{s: s, prefix: prefix, wild: true}, nil
	}
	if err := ValidateType(s); err != nil {
		return Pattern{}, fmt.Errorf("%w %q: %v", ErrInvalidPattern, s, err)
	}
	return Pattern{s: s}, nil
}

func validatePrefix(prefix string) error {
	if len(prefix) > MaxTypeLen {
		return fmt.Errorf("prefix longer than %d bytes", MaxTypeLen)
	}
	if !isAlnum(prefix[0]) {
		return fmt.Errorf("must start with a letter or digit")
	}
	for i := 1; i < len(prefix); i++ {
		if !isTypeByte(prefix[i]) {
			return fmt.Errorf("byte %d is %q", i, prefix[i])
		}
	}
	return nil
}

// Match reports whether typ is selected by the pattern.
func (p Pattern) Match(typ string) bool {
	if p.wild {
		return strings.HasPrefix(typ, p.prefix)
	}
	return p.s != "" && p.s == typ
}

// String returns the pattern as it was parsed.
func (p Pattern) String() string { return p.s }

// IsWildcard reports whether the pattern is "*" or a prefix pattern.
func (p Pattern) IsWildcard() bool { return p.wild }

// Specificity ranks patterns for dispatch: an exact name ranks above every wildcard, a
// longer prefix above a shorter one, and "*" lowest (0).
func (p Pattern) Specificity() int {
	if !p.wild {
		return MaxTypeLen + 1
	}
	return len(p.prefix)
}

// Filter is a subscription's list of patterns. An empty Filter (and the zero value)
// matches every type, as a subscription without an events list receives everything.
type Filter struct {
	exact    map[string]struct{}
	prefixes []string
	all      bool
	patterns []string
}

// NewFilter parses the patterns (see ParsePattern). Duplicates are allowed and harmless.
func NewFilter(patterns ...string) (Filter, error) {
	f := Filter{patterns: make([]string, 0, len(patterns))}
	if len(patterns) == 0 {
		f.all = true
		return f, nil
	}
	for _, s := range patterns {
		p, err := ParsePattern(s)
		if err != nil {
			return Filter{}, err
		}
		f.patterns = append(f.patterns, p.s)
		switch {
		case p.wild && p.prefix == "":
			f.all = true
		case p.wild:
			f.prefixes = append(f.prefixes, p.prefix)
		default:
			if f.exact == nil {
				f.exact = make(map[string]struct{}, len(patterns))
			}
			f.exact[p.s] = struct{}{}
		}
	}
	return f, nil
}

// MustFilter is like NewFilter but panics on an invalid pattern; for package-level
// variables built from constants.
func MustFilter(patterns ...string) Filter {
	f, err := NewFilter(patterns...)
	if err != nil {
		panic(err)
	}
	return f
}

// Match reports whether typ is selected by any pattern of the filter, or the filter is empty.
func (f Filter) Match(typ string) bool {
	if f.all || (f.exact == nil && f.prefixes == nil) {
		return true
	}
	if _, ok := f.exact[typ]; ok {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// Patterns returns a copy of the filter's patterns as given; nil for an empty filter.
func (f Filter) Patterns() []string {
	if len(f.patterns) == 0 {
		return nil
	}
	return append([]string(nil), f.patterns...)
}

// String returns the patterns separated by commas, or "*" for an empty filter.
func (f Filter) String() string {
	if len(f.patterns) == 0 {
		return "*"
	}
	return strings.Join(f.patterns, ",")
}
