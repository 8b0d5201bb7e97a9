module github.com/hookkit/hookkit/cmd/hookkit

go 1.26

require (
	github.com/hookkit/hookkit v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
)

// The CLI is its own module so that the drivers of the stores it opens (SQLite today)
// stay out of the library's module; until hookkit is published it builds against the
// checkout it lives in.
replace github.com/hookkit/hookkit => ../..
