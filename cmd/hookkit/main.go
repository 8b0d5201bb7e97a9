// Command hookkit signs, verifies, sends and receives webhooks from the command line.
//
// Usage:
//
//	hookkit keygen [--scheme S] [--ed25519]
//	hookkit sign   --scheme S --secret K [--secret K2 …] [--id ID] [--timestamp UNIX] [FILE]
//	hookkit verify --scheme S --secret K [--secret K2 …] (--headers FILE | -H 'Name: value' …) [--tolerance DUR] [--now UNIX] [FILE]
//	hookkit listen --addr HOST:PORT --scheme S --secret K […] [--path P] [--max-body BYTES] [--tolerance DUR]
//	               [--bearer TOKEN …] [--basic USER:PASS] [--jwks-url URL --issuer ISS [--audience AUD] [--scope S …]]
//	               [--introspect-url URL --client-id ID --client-secret S] [--allow-http]
//	hookkit send   --url URL --scheme S --secret K […] --type TYPE [--data JSON | --data @FILE] [--id ID]
//	               [--basic USER:PASS] [--bearer TOKEN]
//	               [--token-url URL --client-id ID --client-secret S [--scope S …] [--param k=v …] [--auth-style header|params]]
//	               [--max-attempts N] [--timeout DUR] [--allow-http] [--allow-private] [--allow-insecure-basic] [--quiet]
//
// sign, verify, listen and send also take --header-name NAME (the github scheme's
// signature header, default X-Hub-Signature-256) and --header-prefix PREFIX (the docusign
// scheme's, default X-DocuSign-Signature-).
//
// The headers sign prints are the file verify --headers reads:
//
//	hookkit sign --secret K body.json > headers.txt
//	hookkit verify --secret K --headers headers.txt body.json
//
// Schemes are standard (the default), docusign, github and stripe; secrets are given in the
// text form each system shows its users (whsec_… for standard and stripe, the raw key string
// for docusign and github). Every subcommand accepts --help.
//
// send refuses plain http:// URLs without --allow-http and private, loopback and
// link-local destinations without --allow-private (a receiver at http://127.0.0.1 needs
// both); listen refuses plain http:// --jwks-url and --introspect-url without
// --allow-http. Errors never echo a URL's path, query or credentials, nor a secret.
//
// Exit status: 0 success, 1 the operation failed (invalid signature, delivery not
// acknowledged, listener failure), 2 usage error. Errors are written to stderr as one line.
// send also prints each attempt on stderr as it finishes ("attempt 1: 503 Service
// Unavailable (retryable, 2.1ms)"), before its error if any; --quiet leaves only the error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
