// Package auth provides the credentials hookkit uses on both sides of a webhook.
//
// Outbound, a sender attaches [Credentials] to each request: [Basic], a static
// [Bearer] token, or OAuth2 client credentials ([NewClientCredentials],
// [FromTokenSource]). [OAuth2] caches its token, fetches it once for any number
// of concurrent callers, refreshes it ahead of expiry and implements
// [Invalidator] so that a 401 response drops exactly the token that was used.
//
// Inbound, a receiver checks requests with a [Validator]: API keys looked up by digest in a key store
// ([NewAPIKeyValidator]), HTTP Basic ([NewBasicValidator]), JWTs verified
// against a JWKS ([NewJWTValidator]) or RFC 7662 token introspection
// ([NewIntrospectionValidator]). [AnyOf] combines validators and [Challenge]
// turns a validation error into an HTTP status and WWW-Authenticate header.
//
// The JWKS, token and introspection endpoints must be https:// URLs; a plain
// http:// one is refused with [ErrInsecureURL] unless the config's AllowHTTP
// is set (for loopback test servers). Requests to them never run on the
// context of the request being served, and each is bounded by a timeout of
// its own; callers wait only as long as their context allows.
//
// The configs follow one rule for numbers: a zero duration or size means the
// documented default; a negative one means "none" only where that has a
// meaning, which the field's doc says (JWTConfig.Leeway: no leeway;
// ClientCredentialsConfig.RefreshBefore: no early refresh;
// IntrospectionConfig.CacheSize: no cache), and is refused by the constructor
// everywhere else.
//
// Secrets are held in [Password], whose String, GoString, Format, MarshalJSON
// and LogValue methods print "[REDACTED]". Error messages never contain
// secrets or tokens.
package auth
