package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/signature"
)

const schemeUsage = "signature scheme `S`: standard, docusign, github or stripe"

// schemeFlags are the flags that choose the scheme: --scheme, and the header names the
// github and docusign schemes let a system change.
type schemeFlags struct {
	name         string // --scheme
	headerName   string // --header-name: the github scheme's signature header
	headerPrefix string // --header-prefix: the docusign scheme's header prefix
}

// register adds --scheme, --header-name and --header-prefix to fs.
func (sf *schemeFlags) register(fs *flagSet) {
	fs.StringVar(&sf.name, "scheme", "standard", schemeUsage)
	fs.StringVar(&sf.headerName, "header-name", "", "signature header `NAME` of the github scheme (default "+signature.DefaultGitHubHeader+")")
	fs.StringVar(&sf.headerPrefix, "header-prefix", "", "header `PREFIX` of the docusign scheme, followed by 1, 2, … (default "+signature.DefaultDocuSignPrefix+")")
}

// scheme resolves the flags. A header flag the scheme has no use for is a usage error
// rather than ignored: it would not do what it says.
func (sf *schemeFlags) scheme() (signature.Scheme, error) {
	scheme, err := signature.SchemeByName(sf.name)
	if err != nil {
		return nil, usagef("unknown --scheme %q (want standard, docusign, github or stripe)", sf.name)
	}
	switch {
	case sf.headerName != "" && scheme.Name() != "github":
		return nil, usagef("--header-name is for --scheme github (docusign: --header-prefix)")
	case sf.headerPrefix != "" && scheme.Name() != "docusign":
		return nil, usagef("--header-prefix is for --scheme docusign (github: --header-name)")
	case sf.headerName != "":
		if !isToken(sf.headerName) {
			return nil, usagef("--header-name %q is not a valid header name", sf.headerName)
		}
		return signature.GitHub(sf.headerName), nil
	case sf.headerPrefix != "":
		if !isToken(sf.headerPrefix) {
			return nil, usagef("--header-prefix %q is not a valid header name prefix", sf.headerPrefix)
		}
		return signature.DocuSign(sf.headerPrefix), nil
	}
	return scheme, nil
}

// isToken reports whether s is a valid HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// schemeAndKeys resolves the scheme flags and the --secret values. Both being wrong is a
// usage error: they come straight from the command line.
func schemeAndKeys(sf *schemeFlags, secrets []string) (signature.Scheme, []signature.Key, error) {
	scheme, err := sf.scheme()
	if err != nil {
		return nil, nil, err
	}
	if len(secrets) == 0 {
		return nil, nil, usagef("--secret is required")
	}
	keys := make([]signature.Key, 0, len(secrets))
	for i, s := range secrets {
		if what := signatureLike(scheme.Name(), s); what != "" {
			return nil, nil, usagef("--secret #%d looks like a signature (%s), not a secret: give the %s", i+1, what, secretForm(scheme.Name()))
		}
		k, err := scheme.ParseKey(keyID(i), s)
		if err != nil {
			return nil, nil, usagef("--secret #%d is not a valid %s secret: %v", i+1, scheme.Name(), err)
		}
		keys = append(keys, k)
	}
	return scheme, keys, nil
}

// hexSig256RE is a github signature: sha256= and 64 hex digits.
var hexSig256RE = regexp.MustCompile(`^(?i)sha256=[0-9a-f]{64}$`)

// stripeSigRE is a Stripe-Signature header value: t=<unix>, then v1=… (or v0=…).
var stripeSigRE = regexp.MustCompile(`^t=[0-9]+,v[01]=`)

// signatureLike says what kind of signature s looks like ("v1,…"), or "" when it does
// not look like one. It recognises only forms no real secret of the scheme takes: a
// standard secret is base64 (no comma), and a Stripe or GitHub secret does not start like
// their signature headers.
func signatureLike(scheme, s string) string {
	s = strings.TrimSpace(s)
	if name, value, ok := strings.Cut(s, ":"); ok && isToken(name) && strings.Contains(strings.ToLower(name), "signature") {
		s = strings.TrimSpace(value) // a whole "Webhook-Signature: v1,…" line
	}
	switch scheme {
	case "standard":
		switch {
		case strings.HasPrefix(s, "v1,"):
			return "v1,…"
		case strings.HasPrefix(s, "v1a,"):
			return "v1a,…"
		}
	case "stripe":
		if stripeSigRE.MatchString(s) {
			return "t=…,v1=…"
		}
	case "github":
		if hexSig256RE.MatchString(s) {
			return "sha256=…"
		}
	}
	return ""
}

// secretForm names the form of a scheme's secret, for error messages.
func secretForm(scheme string) string {
	switch scheme {
	case "standard":
		return "whsec_… secret (or a whsk_/whpk_ ed25519 key)"
	case "stripe":
		return "endpoint's whsec_… signing secret"
	}
	return "shared secret string"
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
	fs := newFlagSet(e, "keygen", "hookkit keygen [--scheme S] [--ed25519]",
		`Prints a new random secret (32 bytes) in the text form of the scheme: give it to the
sender (--secret of send and sign) and to the receiver (--secret of listen and verify).

With --ed25519 (standard scheme only) it prints an ed25519 key pair instead, one labelled
line each:
  private: whsk_…   the sender signs with it (--secret of send and sign)
  public:  whpk_…   the receiver verifies with it (--secret of listen and verify)`)
	schemeName := fs.String("scheme", "standard", schemeUsage)
	ed := fs.Bool("ed25519", false, "print an ed25519 key pair (whsk_ private, whpk_ public) for the standard scheme")
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
	if *ed {
		if scheme.Name() != "standard" {
			return usagef("--ed25519 is for --scheme standard (the %s scheme has no ed25519 keys)", scheme.Name())
		}
		_, priv, pub, err := signature.GenerateEd25519Key("")
		if err != nil {
			return fmt.Errorf("generating key: %w", err)
		}
		_, err = fmt.Fprintf(e.stdout, "private: %s\npublic:  %s\n", priv, pub)
		return err
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
		"hookkit sign --scheme S --secret K [--secret K2 …] [--id ID] [--timestamp UNIX] [--header-name NAME | --header-prefix PREFIX] [FILE]",
		`Reads the body from FILE (or stdin) and prints the signature headers a sender would
attach, one "Name: value" a line (webhook-id and webhook-timestamp included for the
standard scheme). With several --secret values every key signs, as during a key rotation.
Save the lines and give the file to hookkit verify --headers, or to curl -H @FILE (post
the body with curl --data-binary @BODY: -d strips the newline the signature covers).

The webhook-id is the body's "id" when it has one, so that the receiver de-duplicates by
the event's own id; --id overrides it (with a warning on stderr when they differ), and a
body without an id gets a new random one.`)
	var sf schemeFlags
	sf.register(fs)
	var secrets secretList
	fs.Var(&secrets, "secret", "signing secret `K` in the scheme's text form (repeat for several keys)")
	id := fs.String("id", "", "message `ID` for the standard scheme (default the body's \"id\", else a new random id)")
	ts := fs.String("timestamp", "", "signing time in `UNIX` seconds (default now)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	scheme, keys, err := schemeAndKeys(&sf, secrets)
	if err != nil {
		return err
	}
	if !anyCanSign(keys) {
		return usagef("no --secret can sign: a whpk_ key is public, it only verifies (sign with its whsk_ key)")
	}
	if *id != "" {
		if err := event.ValidateID(*id); err != nil {
			return usagef("--id: %v", err)
		}
	}
	msg := signature.Message{Timestamp: time.Now()}
	if *ts != "" {
		if msg.Timestamp, err = parseUnix("timestamp", *ts); err != nil {
			return err
		}
	}
	if msg.Body, err = readInput(e, pos); err != nil {
		return err
	}
	if scheme.Name() == "standard" {
		msg.ID = messageID(e, *id, msg.Body)
	}
	h := http.Header{}
	if err := scheme.Sign(h, msg, keys); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	_, err = fmt.Fprint(e.stdout, formatHeaders(h))
	return err
}

// anyCanSign reports whether a key can sign (a whpk_ public key cannot).
func anyCanSign(keys []signature.Key) bool {
	for _, k := range keys {
		if k.CanSign() {
			return true
		}
	}
	return false
}

// messageID picks the webhook-id of sign: --id when given (warning on stderr when the
// body's "id" differs: the receiver de-duplicates by the header), else the body's "id"
// when it is a valid id, else a new random id.
func messageID(e *env, flagID string, body []byte) string {
	bodyID, found := bodyEventID(body)
	switch {
	case flagID != "":
		if found && bodyID != flagID {
			fmt.Fprintf(e.stderr, "hookkit sign: warning: --id %q differs from the body's id %q; receivers de-duplicate by the webhook-id header (--id)\n", flagID, bodyID)
		}
		return flagID
	case found && event.ValidateID(bodyID) == nil:
		return bodyID
	case found:
		fmt.Fprintf(e.stderr, "hookkit sign: warning: the body's id is not a valid webhook-id (%v); signing with a new random id (give one with --id)\n", event.ValidateID(bodyID))
	}
	return event.NewID()
}

// bodyEventID returns the "id" member of a JSON object body when it is a string, the key
// matched as encoding/json (and so event.Parse) matches it.
func bodyEventID(body []byte) (string, bool) {
	var v struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(body, &v) != nil || v.ID == nil {
		return "", false
	}
	return *v.ID, true
}

// formatHeaders writes h as sign prints it: one "Name: value" a line, in headerOrder.
func formatHeaders(h http.Header) string {
	var b strings.Builder
	for _, name := range headerOrder(h) {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	return b.String()
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
		`hookkit verify --scheme S --secret K [--secret K2 …] (--headers FILE | -H 'Name: value' …) [--tolerance DUR] [--now UNIX]
              [--header-name NAME | --header-prefix PREFIX] [FILE]`,
		`Checks signature headers against the body in FILE (or stdin). The headers come from
--headers FILE, in the format hookkit sign prints ("Name: value" a line; - reads them
from stdin, and the body must then come from a file), and from -H. Exits 0 if any key
verifies, 1 with the reason (no signature, malformed header, mismatch, timestamp out of
tolerance) if none does.

  hookkit sign --secret K body.json > headers.txt
  hookkit verify --secret K --headers headers.txt body.json
  hookkit sign --secret K body.json | hookkit verify --secret K --headers - body.json`)
	var sf schemeFlags
	sf.register(fs)
	var secrets secretList
	fs.Var(&secrets, "secret", "verification secret `K` in the scheme's text form (repeat for several keys)")
	headersFile := fs.String("headers", "", "read the request headers from `FILE`, one 'Name: value' a line as hookkit sign prints them (- for stdin)")
	var headers stringList
	fs.Var(&headers, "H", "request `header` as 'Name: value' (repeat; a line of hookkit sign's output fits)")
	tolerance := fs.Duration("tolerance", 0, "accepted age `DUR` of the signed timestamp (standard, stripe); 0: 5m, negative: no check")
	now := fs.String("now", "", "verify as if the time were `UNIX` seconds (default now)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	scheme, keys, err := schemeAndKeys(&sf, secrets)
	if err != nil {
		return err
	}
	var lines []string
	if *headersFile != "" {
		if *headersFile == "-" && bodyFromStdin(pos) {
			return usagef("--headers - reads stdin: give the body as FILE")
		}
		if lines, err = readHeaderLines(e, *headersFile); err != nil {
			return err
		}
	}
	h, err := parseHeaders(headers)
	if err != nil {
		return err
	}
	if err := addHeaderLines(h, lines); err != nil {
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
		name, value, ok := cutHeader(v)
		if !ok {
			// Not echoed: the value may be a credential (Authorization: …).
			return nil, usagef("-H wants 'Name: value' (-H #%d is not)", i+1)
		}
		h.Add(name, value)
	}
	return h, nil
}

// cutHeader splits a "Name: value" line; ok is false when it has no colon or the name is
// empty or holds a space.
func cutHeader(line string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(line, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}

// maxHeadersFile bounds what --headers reads: sign's output for MaxKeys keys is far smaller.
const maxHeadersFile = 1 << 20

// readHeaderLines reads the lines of --headers FILE (- for stdin).
func readHeaderLines(e *env, file string) ([]string, error) {
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, usagef("reading --headers: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxHeadersFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading --headers: %w", err)
	}
	if len(b) > maxHeadersFile {
		return nil, usagef("--headers is larger than %d bytes", maxHeadersFile)
	}
	return strings.Split(string(b), "\n"), nil
}

// addHeaderLines adds the "Name: value" lines of --headers to h. Blank lines are skipped
// and a trailing \r is dropped (a file saved on Windows).
func addHeaderLines(h http.Header, lines []string) error {
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := cutHeader(line)
		if !ok {
			// Not echoed: the value may be a credential.
			return usagef("--headers wants 'Name: value' lines (line %d is not)", i+1)
		}
		h.Add(name, value)
	}
	return nil
}
