// Package signature holds hookkit's secrets, key sets and signing schemes.
//
// A Secret is key material that never prints. A Key wraps a secret (HMAC-SHA256) or an
// ed25519 key with an id and an optional validity window. A KeySet holds up to 100 keys:
// senders sign with every active key, receivers accept a signature from any of them, and
// Replace swaps the keys at run time, which is how keys rotate without a restart.
//
// A Scheme is one wire format. Four are built in, each byte-compatible with the official
// libraries of its format:
//
//	Standard()    webhook-id, webhook-timestamp, webhook-signature: v1,<b64> [v1a,<b64>]   id.timestamp.body
//	DocuSign(p)   X-DocuSign-Signature-1..N: <b64>, one header per key                    body
//	GitHub(h)     X-Hub-Signature-256: sha256=<hex>                                        body
//	Stripe()      Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>]                           timestamp.body
//
// Scheme is an interface open to other formats: a scheme written elsewhere builds keys with
// NewSecret and HMACKey and computes with the Key's capabilities (AppendHMACSHA256,
// SignEd25519, VerifyEd25519) and VerifyOptions.CheckTimestamp, so the key material never
// leaves this package (see Scheme, and examples/slack-scheme for Slack's v0 signatures).
//
// Verification computes one MAC per key, streaming the id, timestamp and body into it
// (never concatenating them), compares it in constant time with every presented signature,
// and then checks the timestamp against a two-sided tolerance (DefaultTolerance unless set).
// Every failure wraps an exported sentinel error: ErrNoSignature, ErrMalformedHeader,
// ErrMismatch, ErrTimestamp or ErrNoKeys.
package signature
