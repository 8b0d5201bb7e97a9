package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
)

// sendFlags are the parsed flags of send.
type sendFlags struct {
	url, typ, data, id      string
	scheme                  schemeFlags
	secrets                 []string
	basic, bearer           secretValue
	tokenURL, clientID      string
	clientSecret            secretValue
	scopes, params          []string
	authStyle               string
	maxAttempts             int
	timeout                 time.Duration
	allowHTTP, allowPrivate bool
	allowInsecureBasic      bool
	quiet                   bool
}

func runSend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "send",
		`hookkit send --url URL --scheme S --secret K […] --type TYPE [--data JSON | --data @FILE] [--id ID]
       [--basic USER:PASS] [--bearer TOKEN]
       [--token-url URL --client-id ID --client-secret S [--scope S …] [--param k=v …] [--auth-style header|params]]
       [--max-attempts N] [--timeout DUR] [--allow-http] [--allow-private] [--allow-insecure-basic]
       [--header-name NAME | --header-prefix PREFIX] [--quiet]`,
		`Builds one event (--type, --data, --id), signs it with every --secret key, attaches the
credentials (Basic, a static bearer token, or an OAuth2 client-credentials token fetched from
--token-url) and POSTs it to --url, retrying what can be retried. Prints the result as JSON
on stdout: the event id, whether it was delivered, and every attempt with its status, its
duration and its class. Exits 0 only when the receiver acknowledged the event (2xx).
While it works it prints each attempt on stderr as it finishes, one line each
("attempt 1: 503 Service Unavailable (retryable, 2.1ms)"); --quiet leaves only errors there.

Safety: plain http:// URLs (the token URL's included) are refused unless --allow-http is
given; private, loopback and link-local destinations only with --allow-private (a test
receiver on this machine at http://127.0.0.1 needs both); Basic credentials over http://
only with --allow-insecure-basic. Redirects are never followed.`)
	var f sendFlags
	fs.StringVar(&f.url, "url", "", "receiver `URL`")
	f.scheme.register(fs)
	fs.Var((*secretList)(&f.secrets), "secret", "signing secret `K` in the scheme's text form (repeat: every key signs)")
	fs.StringVar(&f.typ, "type", "", "event `TYPE`, e.g. envelope-completed")
	fs.StringVar(&f.data, "data", "{}", "event data: a `JSON` object, or @FILE to read it from a file (@- for stdin)")
	fs.StringVar(&f.id, "id", "", "event `ID` (default a new random id)")
	fs.Var(&f.basic, "basic", "HTTP Basic credentials `USER:PASS`")
	fs.Var(&f.bearer, "bearer", "static bearer `TOKEN`")
	fs.StringVar(&f.tokenURL, "token-url", "", "OAuth2 token endpoint `URL` (client credentials grant)")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth2 client `ID`")
	fs.Var(&f.clientSecret, "client-secret", "OAuth2 client secret `S`")
	fs.Var((*stringList)(&f.scopes), "scope", "OAuth2 scope `S` to request (repeat)")
	fs.Var((*stringList)(&f.params), "param", "extra token request parameter `k=v` (repeat), e.g. audience=…")
	fs.StringVar(&f.authStyle, "auth-style", "header", "`STYLE` of client authentication at the token endpoint: header (HTTP Basic) or params (form fields)")
	fs.IntVar(&f.maxAttempts, "max-attempts", 5, "attempts before giving up (`N` ≥ 1)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout `DUR` of each attempt")
	fs.BoolVar(&f.allowHTTP, "allow-http", false, "allow plain http:// URLs (--url and --token-url)")
	fs.BoolVar(&f.allowPrivate, "allow-private", false, "allow private, loopback and link-local destinations (addresses only: plain http:// also needs --allow-http)")
	fs.BoolVar(&f.allowInsecureBasic, "allow-insecure-basic", false, "allow Basic credentials over plain http://")
	fs.BoolVar(&f.quiet, "quiet", false, "do not print each attempt on stderr as it finishes (errors are still printed)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return unexpectedArgument(pos)
	}
	return send(ctx, e, &f)
}

// checkURL validates --url or --token-url: https, or http with --allow-http. Private and
// loopback addresses are the dialer's business (--allow-private).
func checkURL(flagName, raw string, f *sendFlags) (*url.URL, error) {
	return checkURLFlag(flagName, raw, f.allowHTTP, " (and --allow-private for a server on this machine or a private network)")
}

// readData returns the --data value: inline JSON, or the contents of @FILE (@- for stdin).
func readData(e *env, v string) (json.RawMessage, error) {
	var b []byte
	switch {
	case v == "@-":
		var err error
		if b, err = readInput(e, nil); err != nil {
			return nil, err
		}
	case strings.HasPrefix(v, "@"):
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, usagef("reading --data: %v", err)
		}
	default:
		b = []byte(v)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, usagef("--data must be a JSON object")
	}
	return json.RawMessage(b), nil
}

// buildEvent makes the event from --type, --data and --id.
func buildEvent(e *env, f *sendFlags) (*event.Event, error) {
	if f.typ == "" {
		return nil, usagef("--type is required")
	}
	if err := event.ValidateType(f.typ); err != nil {
		return nil, usagef("--type: %v", err)
	}
	data, err := readData(e, f.data)
	if err != nil {
		return nil, err
	}
	if f.id != "" {
		if err := event.ValidateID(f.id); err != nil {
			return nil, usagef("--id: %v", err)
		}
	}
	ev, err := event.New(f.typ, data)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if f.id != "" {
		ev.ID = f.id
	}
	return ev, nil
}

// credentials builds the outbound credentials from the flags; nil when none is given.
func credentials(f *sendFlags) (auth.Credentials, error) {
	n := 0
	for _, set := range []bool{f.basic.set, f.bearer.set, f.tokenURL != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, usagef("--basic, --bearer and --token-url exclude each other")
	}
	if f.tokenURL == "" && (f.clientID != "" || f.clientSecret.set || len(f.scopes) > 0 || len(f.params) > 0) {
		return nil, usagef("--client-id, --client-secret, --scope and --param need --token-url")
	}
	switch {
	case f.basic.set:
		user, pass, ok := strings.Cut(f.basic.v, ":")
		if !ok || user == "" {
			return nil, usagef("--basic wants USER:PASS")
		}
		return auth.Basic(user, auth.NewPassword(pass), f.allowInsecureBasic), nil
	case f.bearer.set:
		if f.bearer.v == "" {
			return nil, usagef("--bearer is empty")
		}
		return auth.Bearer(auth.NewPassword(f.bearer.v)), nil
	case f.tokenURL != "":
		if _, err := checkURL("token-url", f.tokenURL, f); err != nil {
			return nil, err
		}
		if f.clientID == "" || !f.clientSecret.set {
			return nil, usagef("--token-url needs --client-id and --client-secret")
		}
		params := url.Values{}
		for i, p := range f.params {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k == "" {
				return nil, usagef("--param #%d wants k=v", i+1)
			}
			params.Add(k, v)
		}
		var style auth.AuthStyle
		switch f.authStyle {
		case "header":
			style = auth.AuthStyleHeader
		case "params":
			style = auth.AuthStyleParams
		default:
			return nil, usagef("--auth-style must be header or params, got %q", f.authStyle)
		}
		oc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			TokenURL:       f.tokenURL,
			AllowHTTP:      f.allowHTTP, // checkURL refused http:// without it
			ClientID:       f.clientID,
			ClientSecret:   auth.NewPassword(f.clientSecret.v),
			Scopes:         f.scopes,
			EndpointParams: params,
			AuthStyle:      style,
			HTTPClient:     safeClient(f),
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
		return oc, nil
	}
	return nil, nil
}
