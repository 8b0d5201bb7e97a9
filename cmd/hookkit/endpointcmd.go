package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
)

// registryKeyEnv names the environment variable that holds the registry key (never a
// flag: a flag's value shows in the process list).
const registryKeyEnv = "HOOKKIT_REGISTRY_KEY"

// registryOldKeysEnv names the environment variable that holds the earlier registry keys
// (comma-separated, each encoded as HOOKKIT_REGISTRY_KEY): specs sealed under them still
// open; nothing is sealed with them.
const registryOldKeysEnv = "HOOKKIT_REGISTRY_OLD_KEYS"

// endpointLineJSON is one line of endpoint list (and of enable/disable).
type endpointLineJSON struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	Failures    int        `json:"failures,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Filter      []string   `json:"filter"`
	Ordered     bool       `json:"ordered,omitempty"`
	MaxInFlight int        `json:"max_in_flight,omitempty"`
	Version     uint64     `json:"version"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Dead        *int       `json:"dead_lettered,omitempty"`
}

func endpointLine(e queue.Endpoint) endpointLineJSON {
	out := endpointLineJSON{ID: e.ID, State: string(e.State), Failures: e.Failures, Reason: e.Reason, Ordered: e.Ordered,
		MaxInFlight: e.MaxInFlight, Version: e.Version, UpdatedAt: e.UpdatedAt.UTC(), Filter: []string{}}
	if e.State == queue.EndpointPaused || e.State == queue.EndpointProbing {
		t := e.PausedUntil.UTC()
		out.PausedUntil = &t
	}
	for _, p := range e.Patterns {
		if p.Kind == queue.PatternPrefix {
			out.Filter = append(out.Filter, p.Value+"*")
		} else {
			out.Filter = append(out.Filter, p.Value)
		}
	}
	return out
}

func runEndpoint(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "endpoint",
		`hookkit endpoint (list|import|enable|disable|delete|purge|rekey) --store postgres://… [--id ID] [--endpoints FILE] [--older-than D] [--plaintext] [--allow-http] [--allow-private]`,
		`Manages the endpoint registry of a Postgres store, which every "hookkit worker --registry"
(and every program's dispatcher with dispatch.Config.Registry) on the store shares: an
endpoint disabled here is disabled for all of them within a poll interval; enabled again,
it is served again.

  list     prints each endpoint, one JSON line each, in id order: its state (active,
           failing, paused, probing, disabled), failures, reason, filter, version
  import   writes the endpoints of --endpoints FILE (the format of "hookkit publish
           --help") to the registry, all or none (every one checked first, then all
           written in one transaction), and prints {"imported":N}; endpoints already
           there keep their state. Their secrets are sealed with the 32-byte key in the
           environment variable HOOKKIT_REGISTRY_KEY (base64 or hex; every worker needs
           the same); without one they are refused unless --plaintext
  enable   makes the endpoint --id active again
  disable  disables the endpoint --id, as a 410 Gone does, and makes its pending
           deliveries dead letters
  delete   deletes the endpoint --id from the registry, for every worker, and makes its
           pending deliveries dead letters (reason "unsubscribed"), as a dispatcher's
           Unsubscribe does; prints {"id":…,"dead_lettered":N}
  purge    drops the records the registry keeps of endpoints deleted more than
           --older-than ago (a duration such as 168h) and prints {"purged":N}. Those
           records let every worker learn of a deletion: purge only what is far older
           than any worker could still be catching up on (days, not seconds). An
           endpoint imported again after its record is purged starts again at version 1
  rekey    re-seals every endpoint's spec under HOOKKIT_REGISTRY_KEY (required) and
           prints {"rekeyed":N,"unchanged":M,"failed":K}. Specs sealed under an earlier
           key open with HOOKKIT_REGISTRY_OLD_KEYS (comma-separated, each encoded as
           HOOKKIT_REGISTRY_KEY); specs in clear are sealed. Only the spec is rewritten:
           the endpoint's state (disabled, paused, failures) is kept, even when a worker
           changes it meanwhile. A spec none of the keys opens is reported by id on
           stderr, left as it is, and the exit status is 1 (nothing secret is printed).

Key rotation: give every worker and console the new HOOKKIT_REGISTRY_KEY with the old key
in HOOKKIT_REGISTRY_OLD_KEYS, run "hookkit endpoint rekey", then drop the old key. Rekey
writes each spec with a compare-and-set on the spec it read: an "endpoint import" or a
deletion of the same endpoint while rekey runs is never undone (the imported spec is read
again, and re-sealed if it needs it).`)
	var storeDSN, id, endpointsFile string
	var plaintext, allowHTTP, allowPrivate bool
	var olderThan time.Duration
	fs.StringVar(&storeDSN, "store", "", "the Postgres store `DSN` (postgres://USER:PASS@HOST/DB, ?hookkit_schema=NAME)")
	fs.StringVar(&id, "id", "", "the endpoint's `ID` (enable, disable, delete)")
	fs.DurationVar(&olderThan, "older-than", 0, "purge: the deletions older than this `duration` (168h: a week)")
	fs.StringVar(&endpointsFile, "endpoints", "", "endpoints `FILE` to import (JSON)")
	fs.BoolVar(&plaintext, "plaintext", false, "import: store secrets in clear when HOOKKIT_REGISTRY_KEY is not set")
	fs.BoolVar(&allowHTTP, "allow-http", false, "import: allow plain http:// endpoint and token URLs")
	fs.BoolVar(&allowPrivate, "allow-private", false, "import: allow private, loopback and link-local destinations")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing action: list, import, enable, disable, delete, purge or rekey")
	}
	if len(pos) > 1 {
		return unexpectedArgument(pos[1:])
	}
	action := pos[0]
	switch action {
	case "list", "rekey":
	case "import":
		if endpointsFile == "" {
			return usagef("import needs --endpoints FILE")
		}
	case "enable", "disable", "delete":
		if id == "" {
			return usagef("%s needs --id ID", action)
		}
	case "purge":
		if olderThan <= 0 {
			return usagef("purge needs --older-than D, a positive duration (168h: a week)")
		}
	default:
		return usagef("unknown action %q (want list, import, enable, disable, delete, purge or rekey)", action)
	}
	var codec dispatch.SpecCodec
	var specs []dispatch.EndpointSpec
	if action == "rekey" {
		if codec.Key, err = registryKey(); err != nil {
			return err
		}
		if codec.Key == nil {
			return usagef("rekey needs the new key in %s (and the old ones in %s)", registryKeyEnv, registryOldKeysEnv)
		}
		if codec.OldKeys, err = registryOldKeys(); err != nil {
			return err
		}
	}
	if action == "import" {
		if codec.Key, err = registryKey(); err != nil {
			return err
		}
		codec.AllowPlaintext = plaintext
		if specs, err = loadSpecs(endpointsFile, endpointsOptions{allowHTTP: allowHTTP, allowPrivate: allowPrivate}); err != nil {
			return err
		}
	}
	st, reg, err := openRegistry(ctx, storeDSN, "hookkit endpoint")
	if err != nil {
		return err
	}
	defer st.close()
	switch action {
	case "list":
		after := ""
		for {
			page, err := reg.ListEndpoints(ctx, after, listPageSize)
			if err != nil {
				return err
			}
			for _, ep := range page.Endpoints {
				if err := printJSON(e, endpointLine(ep)); err != nil {
					return err
				}
			}
			if page.Next == "" {
				return nil
			}
			after = page.Next
		}
	case "rekey":
		return rekeyEndpoints(ctx, e, reg, codec)
	case "import":
		return importEndpoints(ctx, e, reg, codec, endpointsOptions{allowHTTP: allowHTTP, allowPrivate: allowPrivate}, specs)
	case "delete":
		return deleteEndpoint(ctx, e, st, reg, id)
	case "purge":
		p, ok := reg.(queue.DeletedPurger)
		if !ok {
			return usagef("this store's registry keeps no records of deleted endpoints")
		}
		n, err := p.PurgeDeleted(ctx, time.Now().Add(-olderThan))
		if err != nil {
			return err
		}
		return printJSON(e, map[string]int{"purged": n})
	}
	to, reason := queue.EndpointActive, "enabled by hookkit endpoint enable"
	if action == "disable" {
		to, reason = queue.EndpointDisabled, "disabled by hookkit endpoint disable"
	}
	rec, err := setEndpointState(ctx, reg, id, queue.StateUpdate{State: to, Reason: reason})
	if err != nil {
		return err
	}
	line := endpointLine(rec)
	if action == "disable" {
		n, err := st.Store.DeadLetterEndpoint(ctx, time.Now(), id, queue.DeadReasonGone)
		if err != nil {
			return err
		}
		line.Dead = &n
	}
	return printJSON(e, line)
}

// deleteEndpoint deletes the endpoint id from reg and makes its pending deliveries dead
// letters (queue.DeadReasonUnsubscribed), as Dispatcher.Unsubscribe does with a registry,
// and prints {"id":…,"dead_lettered":N}.
func deleteEndpoint(ctx context.Context, e *env, st *openedStore, reg queue.Registry, id string) error {
	err := reg.DeleteEndpoint(ctx, time.Now(), id)
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("no endpoint %q in the registry", id)
	}
	if err != nil {
		return err
	}
	n, err := st.Store.DeadLetterEndpoint(ctx, time.Now(), id, queue.DeadReasonUnsubscribed)
	if err != nil {
		return err
	}
	return printJSON(e, struct {
		ID   string `json:"id"`
		Dead int    `json:"dead_lettered"`
	}{id, n})
}

// setEndpointState writes st for the endpoint id (queue.UpdateEndpointState:
// compare-and-set on the version it read, reading again after a conflict, a few times).
func setEndpointState(ctx context.Context, reg queue.Registry, id string, st queue.StateUpdate) (queue.Endpoint, error) {
	rec, err := queue.UpdateEndpointState(ctx, reg, id, queue.StateCAS{Decide: func(queue.Endpoint) (queue.StateUpdate, bool) {
		st.UpdatedAt = time.Now()
		return st, true
	}})
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return queue.Endpoint{}, fmt.Errorf("no endpoint %q in the registry", id)
	case errors.Is(err, queue.ErrVersionConflict):
		return queue.Endpoint{}, fmt.Errorf("endpoint %q keeps changing; try again", id)
	}
	return rec, err
}

// importEndpoints registers specs, in order, through a dispatcher on reg that is never
// started (dispatch.Dispatcher.RegisterMany: every spec checked, sealed with codec.Key or
// in clear if codec.AllowPlaintext, then all written with their patterns, in one
// transaction with pgqueue; an endpoint already there keeps its state) and prints
// {"imported":N}. Its Sender never dials; its lease is
// unbounded, as the workers' --lease-for is not known here (each worker checks an
// endpoint's timeout against its own).
func importEndpoints(ctx context.Context, e *env, reg queue.Registry, codec dispatch.SpecCodec, opt endpointsOptions, specs []dispatch.EndpointSpec) error {
	s, err := sender.New(sender.Config{AllowHTTP: opt.allowHTTP, AllowPrivate: opt.allowPrivate})
	if err != nil {
		return err
	}
	d, err := dispatch.New(s, nil, dispatch.Config{Registry: reg, RegistryKey: codec.Key, RegistryPlaintext: codec.AllowPlaintext,
		SpecOptions: dispatch.SpecOptions{AllowHTTP: opt.allowHTTP,
			HTTPClient: safenet.NewClient(safenet.Policy{AllowPrivate: opt.allowPrivate}, 30*time.Second)},
		LeaseFor: math.MaxInt64})
	if err != nil {
		return err
	}
	defer func() { _ = d.Shutdown(context.WithoutCancel(ctx)) }()
	err = d.RegisterMany(ctx, specs...)
	var re *dispatch.RegisterError
	if errors.As(err, &re) && errors.Is(err, dispatch.ErrSpecSecrets) {
		return usagef("endpoint %q has secrets: set %s (32 bytes, base64 or hex) or give --plaintext", re.ID, registryKeyEnv)
	}
	if err != nil {
		return err // a *RegisterError names the endpoint
	}
	return printJSON(e, map[string]int{"imported": len(specs)})
}

// rekeyCount is the output of endpoint rekey.
type rekeyCount struct {
	Rekeyed   int `json:"rekeyed"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
}

// rekeyEndpoints re-seals every endpoint's spec under codec.Key, a page at a time. With a
// registry that replaces a spec by compare-and-set (queue.SpecReplacer: pgqueue, memqueue)
// it writes through replaceSpec, which undoes nothing written meanwhile. Otherwise the
// record is written again with PutEndpoint, which keeps an existing endpoint's state
// (queue.Registry's promise): a state change made meanwhile by a worker stays; a version
// returned other than the one read + 1 says that something else wrote the record in
// between (a state change, harmless; or an import or deletion, which the write may have
// undone): that endpoint is reported.
func rekeyEndpoints(ctx context.Context, e *env, reg queue.Registry, codec dispatch.SpecCodec) error {
	var n rekeyCount
	var raced []string
	after := ""
	for {
		page, err := reg.ListEndpoints(ctx, after, listPageSize)
		if err != nil {
			return err
		}
		for _, rec := range page.Endpoints {
			blob, changed, err := codec.Reseal(rec.ID, rec.Spec)
			switch {
			case errors.Is(err, dispatch.ErrSpecKey) || errors.Is(err, dispatch.ErrInvalidSpec):
				n.Failed++
				fmt.Fprintf(e.stderr, "hookkit: endpoint %q: %v (left as it is)\n", rec.ID, err)
				continue
			case err != nil:
				return fmt.Errorf("endpoint %q: %w", rec.ID, err)
			case !changed:
				n.Unchanged++
				continue
			}
			if sr, ok := reg.(queue.SpecReplacer); ok {
				rekeyed, err := replaceSpec(ctx, e, sr, codec, rec, blob)
				if errors.Is(err, dispatch.ErrSpecKey) || errors.Is(err, dispatch.ErrInvalidSpec) {
					n.Failed++ // imported meanwhile under a key rekey does not have
					fmt.Fprintf(e.stderr, "hookkit: endpoint %q: %v (left as it is)\n", rec.ID, err)
					continue
				}
				if err != nil {
					return fmt.Errorf("endpoint %q: %w", rec.ID, err)
				}
				if rekeyed {
					n.Rekeyed++
				} else {
					n.Unchanged++
				}
				continue
			}
			got, err := reg.PutEndpoint(ctx, queue.Endpoint{ID: rec.ID, Spec: blob, Patterns: rec.Patterns, Ordered: rec.Ordered,
				MaxInFlight: rec.MaxInFlight, UpdatedAt: time.Now()})
			if err != nil {
				return fmt.Errorf("endpoint %q: %w", rec.ID, err)
			}
			n.Rekeyed++
			if got.Version != rec.Version+1 {
				raced = append(raced, rec.ID)
				fmt.Fprintf(e.stderr, "hookkit: endpoint %q changed while it was re-sealed (version %d read, %d written): check it and import it again if its description had changed\n",
					rec.ID, rec.Version, got.Version)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if err := printJSON(e, n); err != nil {
		return err
	}
	if n.Failed > 0 || len(raced) > 0 {
		return fmt.Errorf("rekey: %d endpoint(s) not opened with the configured keys, %d changed meanwhile (see above)", n.Failed, len(raced))
	}
	return nil
}

// replaceSpec writes blob, rec's spec re-sealed, with a compare-and-set on the spec read
// (queue.SpecReplacer): a state change meanwhile is kept, and an import meanwhile is not
// undone: its spec is read again and re-sealed in turn if it needs it (an import seals
// with the current key already), a few times. It reports whether it wrote a spec: not
// when the endpoint was deleted meanwhile, or re-written under the key by another.
func replaceSpec(ctx context.Context, e *env, sr queue.SpecReplacer, codec dispatch.SpecCodec, rec queue.Endpoint, blob []byte) (bool, error) {
	for range 5 {
		cur, err := sr.ReplaceSpec(ctx, rec.ID, rec.Spec, blob, time.Now())
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, queue.ErrNotFound):
			fmt.Fprintf(e.stderr, "hookkit: endpoint %q was deleted while it was re-sealed (nothing to do)\n", rec.ID)
			return false, nil
		case !errors.Is(err, queue.ErrVersionConflict):
			return false, err
		}
		changed := false
		if blob, changed, err = codec.Reseal(cur.ID, cur.Spec); err != nil {
			return false, err
		}
		if !changed {
			return false, nil // written meanwhile under the current key
		}
		rec = cur
	}
	return false, fmt.Errorf("its spec keeps changing; run rekey again")
}

// registryKey reads HOOKKIT_REGISTRY_KEY: nil when unset.
func registryKey() ([]byte, error) {
	v := strings.TrimSpace(os.Getenv(registryKeyEnv))
	if v == "" {
		return nil, nil
	}
	if k, ok := decodeKey(v); ok {
		return k, nil
	}
	return nil, usagef("%s must be %d bytes in base64 or hex (e.g. openssl rand -base64 32)", registryKeyEnv, dispatch.SpecKeySize)
}

// registryOldKeys reads HOOKKIT_REGISTRY_OLD_KEYS: nil when unset. A key that does not
// decode is named by its position, never shown.
func registryOldKeys() ([][]byte, error) {
	v := strings.TrimSpace(os.Getenv(registryOldKeysEnv))
	if v == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, part := range strings.Split(v, ",") {
		k, ok := decodeKey(strings.TrimSpace(part))
		if !ok {
			return nil, usagef("%s: key %d must be %d bytes in base64 or hex", registryOldKeysEnv, i+1, dispatch.SpecKeySize)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// decodeKey decodes a registry key from base64 (any alphabet, padded or not) or hex.
func decodeKey(v string) ([]byte, bool) {
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
		if k, err := dec(v); err == nil && len(k) == dispatch.SpecKeySize {
			return k, true
		}
	}
	return nil, false
}

// loadSpecs reads an endpoints file once as loadEndpoints does (the size limit, the
// strict decoder, every check, the same errors) and returns its entries as endpoint specs.
func loadSpecs(path string, opt endpointsOptions) ([]dispatch.EndpointSpec, error) {
	b, err := readEndpointsFile(path)
	if err != nil {
		return nil, err
	}
	entries, _, err := decodeEndpoints(b, opt)
	if err != nil {
		return nil, err
	}
	specs := make([]dispatch.EndpointSpec, 0, len(entries))
	for _, ej := range entries {
		s := dispatch.EndpointSpec{ID: ej.ID, URL: ej.URL, Scheme: ej.Scheme, Filter: ej.Filter, Ordered: ej.Ordered}
		for _, sec := range ej.Secrets {
			s.Secrets = append(s.Secrets, auth.NewPassword(sec))
		}
		if ej.Timeout != "" {
			s.Timeout, _ = time.ParseDuration(ej.Timeout) // checked by decodeEndpoints
		}
		switch {
		case ej.Bearer != nil:
			s.Bearer = auth.NewPassword(*ej.Bearer)
		case ej.Basic != nil:
			user, pass, _ := strings.Cut(*ej.Basic, ":")
			s.BasicUser, s.BasicPassword = user, auth.NewPassword(pass)
		case ej.OAuth2 != nil:
			o := ej.OAuth2
			s.OAuth2 = &dispatch.OAuth2Spec{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: auth.NewPassword(o.ClientSecret),
				Scopes: o.Scopes, Params: o.Params, AuthStyle: o.AuthStyle}
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// registryConfig is the dispatch.Config of "hookkit worker --registry" (and of the
// console's) without its Registry, which openRegistry gives once the store is open: the key
// from HOOKKIT_REGISTRY_KEY, the earlier keys from HOOKKIT_REGISTRY_OLD_KEYS and the OAuth2
// client the CLI's safety flags allow. It reads the environment only, so a bad key is
// reported before anything is connected.
func registryConfig(opt endpointsOptions) (dispatch.Config, error) {
	key, err := registryKey()
	if err != nil {
		return dispatch.Config{}, err
	}
	old, err := registryOldKeys()
	if err != nil {
		return dispatch.Config{}, err
	}
	return dispatch.Config{RegistryKey: key, RegistryOldKeys: old, SpecOptions: dispatch.SpecOptions{AllowHTTP: opt.allowHTTP,
		HTTPClient: safenet.NewClient(safenet.Policy{AllowPrivate: opt.allowPrivate}, 30*time.Second)}}, nil
}
