package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// maxEndpointsFile bounds the --endpoints file read into memory.
const maxEndpointsFile = 16 << 20

// endpointJSON is one entry of the --endpoints file:
//
//	{"endpoints":[{"id":…,"url":…,"scheme":…,"secrets":[…],"filter":[…],"ordered":bool,
//	  "bearer":…,"basic":"user:pass","oauth2":{"token_url":…,"client_id":…,"client_secret":…,
//	  "scopes":[…],"params":{…},"auth_style":"header|params"},"timeout":"10s"}]}
type endpointJSON struct {
	ID      string      `json:"id"`
	URL     string      `json:"url"`
	Scheme  string      `json:"scheme"`
	Secrets []string    `json:"secrets"`
	Filter  []string    `json:"filter"`
	Ordered bool        `json:"ordered"`
	Bearer  *string     `json:"bearer"`
	Basic   *string     `json:"basic"`
	OAuth2  *oauth2JSON `json:"oauth2"`
	Timeout string      `json:"timeout"` // optional: each attempt's timeout, a Go duration ("10s"); "" is sender.DefaultTimeout
}

type oauth2JSON struct {
	TokenURL     string            `json:"token_url"`
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	Scopes       []string          `json:"scopes"`
	Params       map[string]string `json:"params"`
	AuthStyle    string            `json:"auth_style"`
}

// endpointsOptions are the safety flags that decide which endpoints are acceptable.
type endpointsOptions struct {
	allowHTTP, allowPrivate bool
}

// endpointError is a mistake in the --endpoints file: it names the endpoint (its id and
// position) and the field, never a value that may be secret.
type endpointError struct {
	index int    // 1-based position in "endpoints"
	id    string // "" when it has none (yet)
	field string // the JSON field, "" for the entry as a whole
	msg   string
}

func (e *endpointError) Error() string {
	var b strings.Builder
	b.WriteString("--endpoints: endpoint #")
	b.WriteString(strconv.Itoa(e.index))
	if e.id != "" {
		b.WriteString(" (")
		b.WriteString(strconv.Quote(e.id))
		b.WriteString(")")
	}
	if e.field != "" {
		b.WriteString(": ")
		b.WriteString(e.field)
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

// loadEndpoints reads the --endpoints file and returns one subscription per endpoint,
// every field checked. Its errors are usage errors naming the endpoint and the field.
func loadEndpoints(path string, opt endpointsOptions) ([]dispatch.Subscription, error) {
	b, err := readEndpointsFile(path)
	if err != nil {
		return nil, err
	}
	return parseEndpoints(b, opt)
}

// readEndpointsFile reads the --endpoints file, at most maxEndpointsFile bytes. Its errors
// are usage errors.
func readEndpointsFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--endpoints: %v", errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEndpointsFile+1))
	if err != nil {
		return nil, usagef("--endpoints: reading the file: %v", errors.Unwrap(err))
	}
	if len(b) > maxEndpointsFile {
		return nil, usagef("--endpoints: the file is larger than %d MiB", maxEndpointsFile>>20)
	}
	return b, nil
}

// parseEndpoints is loadEndpoints on the file's contents.
func parseEndpoints(b []byte, opt endpointsOptions) ([]dispatch.Subscription, error) {
	_, subs, err := decodeEndpoints(b, opt)
	return subs, err
}

// decodeEndpoints is parseEndpoints that also returns the entries as decoded, one per
// subscription.
func decodeEndpoints(b []byte, opt endpointsOptions) ([]endpointJSON, []dispatch.Subscription, error) {
	var top struct {
		Endpoints []json.RawMessage `json:"endpoints"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&top); err != nil {
		return nil, nil, usagef("--endpoints: %s", jsonErrorAt(b, err))
	}
	if dec.More() {
		return nil, nil, usagef("--endpoints: one JSON object expected, more follows")
	}
	if len(top.Endpoints) == 0 {
		return nil, nil, usagef(`--endpoints: no endpoints (want {"endpoints":[{"id":…,"url":…,…}]})`)
	}
	entries := make([]endpointJSON, 0, len(top.Endpoints))
	subs := make([]dispatch.Subscription, 0, len(top.Endpoints))
	seen := make(map[string]int, len(top.Endpoints))
	client := safenet.NewClient(safenet.Policy{AllowPrivate: opt.allowPrivate}, 30*time.Second)
	for i, raw := range top.Endpoints {
		var ej endpointJSON
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&ej); err != nil {
			return nil, nil, &usageError{msg: (&endpointError{index: i + 1, msg: jsonFieldError(err)}).Error()}
		}
		sub, err := ej.subscription(i+1, opt, client)
		if err != nil {
			return nil, nil, &usageError{msg: err.Error()}
		}
		if j, dup := seen[ej.ID]; dup {
			return nil, nil, &usageError{msg: (&endpointError{index: i + 1, id: ej.ID, field: "id", msg: fmt.Sprintf("the same as endpoint #%d's", j)}).Error()}
		}
		seen[ej.ID] = i + 1
		entries = append(entries, ej)
		subs = append(subs, sub)
	}
	return entries, subs, nil
}

// jsonErrorAt describes a JSON decoding error with its line and column.
func jsonErrorAt(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off < 0 || off > int64(len(b)) {
		return msg
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Sprintf("line %d, column %d: %s", line, col, msg)
}

// jsonFieldError is the decoding error of one endpoint entry, without values.
func jsonFieldError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: want a JSON %s, got %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return goKind
}

// subscription checks the entry and builds its subscription.
func (ej *endpointJSON) subscription(index int, opt endpointsOptions, client *http.Client) (dispatch.Subscription, error) {
	fail := func(field, format string, args ...any) error {
		return &endpointError{index: index, id: ej.ID, field: field, msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case ej.ID == "":
		return dispatch.Subscription{}, fail("id", "required")
	case ej.URL == "":
		return dispatch.Subscription{}, fail("url", "required")
	}
	u, err := checkEndpointURL(ej.URL, opt)
	if err != nil {
		return dispatch.Subscription{}, fail("url", "%s", err)
	}
	sf := schemeFlags{name: ej.Scheme}
	if sf.name == "" {
		sf.name = "standard"
	}
	scheme, err := sf.scheme()
	if err != nil {
		return dispatch.Subscription{}, fail("scheme", "unknown %q (want standard, docusign, github or stripe)", ej.Scheme)
	}
	if len(ej.Secrets) == 0 {
		return dispatch.Subscription{}, fail("secrets", "at least one signing secret is required")
	}
	keys := make([]signature.Key, 0, len(ej.Secrets))
	for i, s := range ej.Secrets {
		field := "secrets[" + strconv.Itoa(i) + "]"
		if s == "" {
			return dispatch.Subscription{}, fail(field, "empty")
		}
		if what := signatureLike(scheme.Name(), s); what != "" {
			return dispatch.Subscription{}, fail(field, "looks like a signature (%s), not a secret: give the %s", what, secretForm(scheme.Name()))
		}
		k, err := scheme.ParseKey(keyID(i), s)
		if err != nil {
			return dispatch.Subscription{}, fail(field, "not a valid %s secret: %v", scheme.Name(), err)
		}
		keys = append(keys, k)
	}
	ks, err := signature.NewKeySet(keys...)
	if err != nil {
		return dispatch.Subscription{}, fail("secrets", "%v", err)
	}
	filter, err := event.NewFilter(ej.Filter...)
	if err != nil {
		return dispatch.Subscription{}, fail("filter", "%v", err)
	}
	creds, err := ej.credentials(u, opt, client, fail)
	if err != nil {
		return dispatch.Subscription{}, err
	}
	var timeout time.Duration
	if ej.Timeout != "" {
		if timeout, err = time.ParseDuration(ej.Timeout); err != nil || timeout <= 0 {
			return dispatch.Subscription{}, fail("timeout", "want a positive duration like \"10s\", got %q", ej.Timeout)
		}
	}
	ep := sender.Endpoint{ID: ej.ID, URL: ej.URL, Scheme: scheme, Keys: ks, Credentials: creds, Timeout: timeout}
	return dispatch.Subscription{Endpoint: ep, Filter: filter, Ordered: ej.Ordered}, nil
}

// checkEndpointURL checks an endpoint's or token endpoint's URL as the CLI's URL flags
// are checked, without echoing it.
func checkEndpointURL(raw string, opt endpointsOptions) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a valid URL: %s", urlErrorReason(err))
	case u.User != nil:
		return nil, errors.New("must not carry credentials (user:password@); use basic or bearer")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be an absolute http(s) URL, like https://host/path")
	case u.Scheme == "http" && !opt.allowHTTP:
		return nil, fmt.Errorf("%s is plain http://: refused; use --allow-http (and --allow-private for a server on this machine or a private network)", redactURL(u))
	}
	return u, nil
}

// credentials builds the entry's outbound credentials: at most one of bearer, basic and
// oauth2.
func (ej *endpointJSON) credentials(u *url.URL, opt endpointsOptions, client *http.Client, fail func(field, format string, args ...any) error) (auth.Credentials, error) {
	n := 0
	for _, set := range []bool{ej.Bearer != nil, ej.Basic != nil, ej.OAuth2 != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, fail("", "bearer, basic and oauth2 exclude each other")
	}
	switch {
	case ej.Bearer != nil:
		if *ej.Bearer == "" {
			return nil, fail("bearer", "empty")
		}
		return auth.Bearer(auth.NewPassword(*ej.Bearer)), nil
	case ej.Basic != nil:
		user, pass, ok := strings.Cut(*ej.Basic, ":")
		if !ok || user == "" {
			return nil, fail("basic", "want \"user:pass\"")
		}
		if u.Scheme == "http" {
			return nil, fail("basic", "over plain http:// sends the password in clear: refused")
		}
		return auth.Basic(user, auth.NewPassword(pass), false), nil
	case ej.OAuth2 != nil:
		o := ej.OAuth2
		switch {
		case o.TokenURL == "":
			return nil, fail("oauth2.token_url", "required")
		case o.ClientID == "":
			return nil, fail("oauth2.client_id", "required")
		case o.ClientSecret == "":
			return nil, fail("oauth2.client_secret", "required")
		}
		if _, err := checkEndpointURL(o.TokenURL, opt); err != nil {
			return nil, fail("oauth2.token_url", "%s", err)
		}
		var style auth.AuthStyle
		switch o.AuthStyle {
		case "", "header":
			style = auth.AuthStyleHeader
		case "params":
			style = auth.AuthStyleParams
		default:
			return nil, fail("oauth2.auth_style", "want header or params, got %q", o.AuthStyle)
		}
		params := url.Values{}
		for k, v := range o.Params {
			if k == "" {
				return nil, fail("oauth2.params", "empty parameter name")
			}
			params.Set(k, v)
		}
		cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			TokenURL:       o.TokenURL,
			AllowHTTP:      opt.allowHTTP, // checkEndpointURL refused http:// without it
			ClientID:       o.ClientID,
			ClientSecret:   auth.NewPassword(o.ClientSecret),
			Scopes:         o.Scopes,
			EndpointParams: params,
			AuthStyle:      style,
			HTTPClient:     client,
		})
		if err != nil {
			return nil, fail("oauth2", "%v", err)
		}
		return cc, nil
	}
	return nil, nil
}
