module github.com/hookkit/hookkit/console/browsertest

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/hookkit/hookkit v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/dispatch/pgqueue v0.0.0-00010101000000-000000000000
	github.com/hookkit/hookkit/dispatch/sqlitequeue v0.0.0-00010101000000-000000000000
	github.com/jackc/pgx/v5 v5.12.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hookkit/hookkit/internal/pgschema v0.0.0-00010101000000-000000000000 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)

// The browser test is a module of its own so that chromedp stays out of the library's
// module; it builds against the checkout it lives in.
replace (
	github.com/hookkit/hookkit => ../..
	github.com/hookkit/hookkit/dispatch/pgqueue => ../../dispatch/pgqueue
	github.com/hookkit/hookkit/dispatch/sqlitequeue => ../../dispatch/sqlitequeue
	github.com/hookkit/hookkit/internal/pgschema => ../../internal/pgschema
)
