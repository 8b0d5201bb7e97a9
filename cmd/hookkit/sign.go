package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/signature"
)

const schemeUsage = "signature scheme `S`: standard, docusign, github or stripe"

// schemeAndKeys resolves --scheme and the --secret values. Both being wrong is a usage
// error: they come straight from the command line.
func schemeAndKeys(name string, secrets []string) (signature.Scheme, []signature.Key, error) {
	scheme, err := signature.SchemeByName(name)
	if err != nil {
		return nil, nil, usagef("unknown --scheme %q (want standard, docusign, github or stripe)", name)
	}
	if len(secrets) == 0 {
		return nil, nil, usagef("--secret is required")
	}
	keys := make([]signature.Key, 0, len(secrets))
	for i, s := range secrets {
		k, err := scheme.ParseKey(keyID(i), s)
		if err != nil {
			return nil, nil, usagef("--secret #%d is not a valid %s secret: %v", i+1, scheme.Name(), err)
		}
		keys = append(keys, k)
	}
	return scheme, keys, nil
}

// keyID labels the i-th --secret in logs and errors (never the material itself).
func keyID(i int) string { return "key-" + strconv.Itoa(i+1) }

// parseUnix reads a --timestamp/--now value in Unix seconds.
func parseUnix(flagName, s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usagef("--%s must be a Unix time in seconds, got %q", flagName, s)
	}
	return time.Unix(n, 0), nil
}

func runKeygen(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keygen", "hookkit keygen [--scheme S]",
		"Prints a new random secret (32 bytes) in the text form of the scheme: give it to the\nsender (--secret of send) and to the receiver (--secret of listen).")
	schemeName := fs.String("scheme", "standard", schemeUsage)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return unexpectedArgument(pos)
	}
	scheme, err := signature.SchemeByName(*schemeName)
	if err != nil {
		return usagef("unknown --scheme %q (want standard, docusign, github or stripe)", *schemeName)
	}
	_, text, err := scheme.GenerateKey("")
	if err != nil {
		return fmt.Errorf("generating key: %w", err)
	}
	_, err = fmt.Fprintln(e.stdout, text)
	return err
}

func runSign(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sign",
		"hookkit sign --scheme S --secret K [--secret K2 …] [--id ID] [--timestamp UNIX] [FILE]",
		`Reads the body from FILE (or stdin) and prints the signature headers a sender would
attach, one "Name: value" a line (webhook-id and webhook-timestamp included for the
standard scheme). With several --secret values every key signs, as during a key rotation.
Feed the lines to curl -H or to hookkit verify -H.`)
	schemeName := fs.String("scheme", "standard", schemeUsage)
	var secrets secretList
	fs.Var(&secrets, "secret", "signing secret `K` in the scheme's text form (repeat for several keys)")
	id := fs.String("id", "", "message `ID` for the standard scheme (default a new random id)")
	ts := fs.String("timestamp", "", "signing time in `UNIX` seconds (default now)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	scheme, keys, err := schemeAndKeys(*schemeName, secrets)
	if err != nil {
		return err
	}
	msg := signature.Message{ID: *id, Timestamp: time.Now()}
	if msg.ID == "" {
		msg.ID = event.NewID()
	} else if err := event.ValidateID(msg.ID); err != nil {
		return usagef("--id: %v", err)
	}
	if *ts != "" {
		if msg.Timestamp, err = parseUnix("timestamp", *ts); err != nil {
			return err
		}
	}
	if msg.Body, err = readInput(e, pos); err != nil {
		return err
	}
	h := http.Header{}
	if err := scheme.Sign(h, msg, keys); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	var b strings.Builder
	for _, name := range headerOrder(h) {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// headerOrder lists the names of h with the id and the timestamp first, then the others
// in natural order (Signature-2 before Signature-10).
func headerOrder(h http.Header) []string {
	rank := func(name string) int {
		n := strings.ToLower(name)
		switch {
		case strings.HasSuffix(n, "-id"):
			return 0
		case strings.HasSuffix(n, "-timestamp"):
			return 1
		}
		return 2
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		pa, na := splitNumber(a)
		pb, nb := splitNumber(b)
		if pa != pb {
			return pa < pb
		}
		return na < nb
	})
	return names
}

// splitNumber splits "X-DocuSign-Signature-12" into "X-DocuSign-Signature-" and 12.
func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 9 {
		return s, -1
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}

func runVerify(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify",
		"hookkit verify --scheme S --secret K [--secret K2 …] -H 'Name: value' [-H …] [--tolerance DUR] [--now UNIX] [FILE]",
		`Checks the signature headers given with -H against the body in FILE (or stdin). Exits 0
if any key verifies, 1 with the reason (no signature, malformed header, mismatch,
timestamp out of tolerance) if none does.`)
	schemeName := fs.String("scheme", "standard", schemeUsage)
	var secrets secretList
	fs.Var(&secrets, "secret", "verification secret `K` in the scheme's text form (repeat for several keys)")
	var headers stringList
	fs.Var(&headers, "H", "request `header` as 'Name: value' (repeat; the output of hookkit sign fits)")
	tolerance := fs.Duration("tolerance", 0, "accepted age `DUR` of the signed timestamp (standard, stripe); 0: 5m, negative: no check")
	now := fs.String("now", "", "verify as if the time were `UNIX` seconds (default now)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	scheme, keys, err := schemeAndKeys(*schemeName, secrets)
	if err != nil {
		return err
	}
	h, err := parseHeaders(headers)
	if err != nil {
		return err
	}
	opts := signature.VerifyOptions{Tolerance: *tolerance}
	if *now != "" {
		t, err := parseUnix("now", *now)
		if err != nil {
			return err
		}
		opts.Now = func() time.Time { return t }
	}
	body, err := readInput(e, pos)
	if err != nil {
		return err
	}
	meta, err := scheme.Verify(h, body, keys, opts)
	if err != nil {
		return fmt.Errorf("invalid signature: %w", err)
	}
	line := "signature valid (" + scheme.Name()
	if meta.ID != "" {
		line += ", id " + meta.ID
	}
	if !meta.Timestamp.IsZero() {
		line += ", timestamp " + strconv.FormatInt(meta.Timestamp.Unix(), 10)
	}
	_, err = fmt.Fprintln(e.stdout, line+")")
	return err
}

// parseHeaders reads -H values ("Name: value").
func parseHeaders(values []string) (http.Header, error) {
	h := http.Header{}
	for i, v := range values {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			// Not echoed: the value may be a credential (Authorization: …).
			return nil, usagef("-H wants 'Name: value' (-H #%d is not)", i+1)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}
