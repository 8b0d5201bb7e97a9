package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/auth/pgapikeys"
)

// apiKeyStoreUsage documents --store of apikey and --apikey-store of listen.
const apiKeyStoreUsage = "API key store `DSN`: postgres://USER:PASS@HOST:PORT/DB (?hookkit_schema=NAME, default hookkit)"

// apiKeyJSON is one key as apikey prints it: never the key, only what tells keys apart.
type apiKeyJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name,omitempty"`
	Prefix   string     `json:"prefix,omitempty"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Key      string     `json:"key,omitempty"` // only when created: shown once
}

func apiKeyLine(k auth.APIKey) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Created: k.Created.UTC()}
	if !k.LastUsed.IsZero() {
		t := k.LastUsed.UTC()
		out.LastUsed = &t
	}
	if !k.Revoked.IsZero() {
		t := k.Revoked.UTC()
		out.Revoked = &t
	}
	return out
}

// openAPIKeys opens the Postgres API key store of a DSN, and how to close it.
func openAPIKeys(ctx context.Context, flag, dsn string) (*pgapikeys.Store, func(), error) {
	if dsn == "" {
		return nil, nil, usagef("--%s is required", flag)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, nil, usagef("--%s wants postgres://USER:PASS@HOST:PORT/DB", flag)
	}
	password, _ := u.User.Password()
	q := u.Query()
	cfg := pgapikeys.Config{Schema: q.Get("hookkit_schema")}
	q.Del("hookkit_schema")
	u.RawQuery = q.Encode()
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, nil, usagef("--%s postgres://…: not a valid connection URL", flag)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the API key store: %s", redact(err.Error(), password))
	}
	s, err := pgapikeys.New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("opening the API key store: %s", redact(err.Error(), password))
	}
	return s, pool.Close, nil
}

func runAPIKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "apikey",
		`hookkit apikey (create|list|revoke) --store DSN [--name NAME] [--prefix P] [--id ID]`,
		`Manages the API keys a listener accepts as bearer tokens (hookkit listen --apikey-store).
The store keeps SHA-256 digests only, never a key.

  create   makes a key and prints it once, with its id: {"id":…,"name":…,"prefix":…,"key":"dsk_…"}
           (store the key now: it cannot be shown again)
  list     prints each key, one JSON line each, with when it was last used (written at most once
           a minute) and when it was revoked: who still uses the old key is one look
  revoke   revokes the key with --id; every listener refuses it at its next request`)
	var storeDSN, name, prefix, id string
	fs.StringVar(&storeDSN, "store", "", apiKeyStoreUsage)
	fs.StringVar(&name, "name", "", "label of a new key, e.g. the customer it is for (create)")
	fs.StringVar(&prefix, "prefix", "dsk_", "`P` the new key starts with (create)")
	fs.StringVar(&id, "id", "", "the key to revoke (revoke)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one action: create, list or revoke")
	}
	action := pos[0]
	switch action {
	case "create", "list":
	case "revoke":
		if id == "" {
			return usagef("revoke needs --id (see hookkit apikey list)")
		}
	default:
		return usagef("unknown action %q (want create, list or revoke)", action)
	}
	s, closeStore, err := openAPIKeys(ctx, "store", storeDSN)
	if err != nil {
		return err
	}
	defer closeStore()
	switch action {
	case "create":
		plaintext, k, err := s.Create(ctx, prefix, name)
		if err != nil {
			return err
		}
		line := apiKeyLine(k)
		line.Key = plaintext
		fmt.Fprintln(e.stderr, "hookkit apikey: store the key now: it is shown once")
		return printJSON(e, line)
	case "list":
		keys, err := s.List(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := printJSON(e, apiKeyLine(k)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.Revoke(ctx, id); err != nil {
		if errors.Is(err, auth.ErrUnknownAPIKey) {
			return fmt.Errorf("no key has --id %q", id)
		}
		return err
	}
	return printJSON(e, map[string]string{"revoked": id})
}
