module github.com/hookkit/hookkit/cmd/hookkit

go 1.26.0

require (
	github.com/hookkit/hookkit v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/auth/pgapikeys v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/dispatch/pgqueue v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/dispatch/sqlitequeue v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/receiver/pgseen v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/receiver/redisseen v0.0.0-00010101000000-000000000000
	github.com/jackc/pgx/v5 v5.12.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hookkit/hookkit/internal/pgschema v0.0.0-00010101000000-000000000000 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)

// The CLI is its own module so that the drivers of the stores it opens (SQLite, Postgres)
// stay out of the library's module; until hookkit is published it builds against the
// checkout it lives in.
replace (
	github.com/hookkit/hookkit => ../..
	github.com/hookkit/hookkit/auth/pgapikeys => ../../auth/pgapikeys
	github.com/hookkit/hookkit/dispatch/pgqueue => ../../dispatch/pgqueue
	github.com/hookkit/hookkit/dispatch/sqlitequeue => ../../dispatch/sqlitequeue
	github.com/hookkit/hookkit/internal/pgschema => ../../internal/pgschema
	github.com/hookkit/hookkit/receiver/pgseen => ../../receiver/pgseen
	github.com/hookkit/hookkit/receiver/redisseen => ../../receiver/redisseen
)
