module github.com/hookkit/hookkit/internal/pgschema

go 1.26.0

require (
	github.com/hookkit/hookkit v0.0.0-00010101000000-000000000000
	github.com/jackc/pgx/v5 v5.12.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

// Internal to hookkit: the migrations of its Postgres stores. Until hookkit is published
// it builds against the checkout it lives in.
replace github.com/hookkit/hookkit => ../..
