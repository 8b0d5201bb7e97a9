module github.com/hookkit/hookkit/receiver/redisseen

go 1.26.0

// The Redis seen store is its own module so that its driver stays out of the library's
// module; until hookkit is published it builds against the checkout it lives in.
replace github.com/hookkit/hookkit => ../..

require (
	github.com/hookkit/hookkit v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
