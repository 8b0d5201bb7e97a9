// Package redisseen is a receiver.SeenStore kept in Redis, with
// github.com/redis/go-redis/v9: the replicas of a webhook listener behind a load balancer
// share one Redis, so a delivery retried onto another replica is recognised there, and each
// event reaches the application handler once, not once per replica.
//
//	client := redis.NewClient(&redis.Options{Addr: "redis.internal:6379"})
//	seen, err := redisseen.New(client, redisseen.Config{})
//	...
//	mw, err := receiver.New(receiver.Config{Keys: keys, Seen: seen})
//
// It is its own module so that the Redis driver stays out of the library's module.
//
// # Key layout
//
// One string key per delivery id: Config.Prefix (DefaultPrefix, "hookkit:seen:", when
// empty) followed by the id, exactly as the receiver passes it. Its value is
//
//   - "r:" followed by a token (32 hex digits, 128 random bits from crypto/rand) while a
//     delivery holds the id, with the lease as its expiry; the token is the reservation's
//     owner, returned by Reserve and presented by Commit and Release;
//   - "seen" once a handler succeeded, with the retention as its expiry.
//
// Nothing else is stored: Redis expires the keys itself, so there is nothing to sweep and
// memory follows the number of ids within one retention window. A key under the prefix with
// any other value is not this Store's, and Reserve reports it as ErrUnexpectedValue rather
// than overwrite it.
//
// # Commands
//
// Reserve is SET key "r:"+token NX PX lease: atomic across every client of the server, so of
// concurrent reservations of one id exactly one succeeds. When the SET fails, a GET tells
// "seen" (AlreadySeen) from a reservation (InFlight); if the key vanished between the two
// commands (its lease or retention ran out, or its holder released it), Reserve tries once
// more. A seen id costs two round trips, a new one one.
//
// Commit and Release are Lua scripts, run with EVALSHA (falling back to EVAL the first time
// a server lacks them). They must compare the key's value with the caller's token and act on
// it in one step: as two commands, a reservation could expire between the GET and the
// DEL, another delivery reserve the id, and the late DEL free that delivery's reservation —
// letting a third copy of the delivery in, which is what the tokens exist to prevent.
// Release deletes the key only if it still holds "r:"+token; Commit sets it to "seen" in any
// case (the handler did succeed) and returns receiver.ErrLeaseLost when it no longer held
// "r:"+token.
//
// # Expiry and rounding
//
// Leases and retentions go to Redis as PX in whole milliseconds, rounded up and at least
// 1 ms: Redis has millisecond resolution, and rounding down could free an id before its
// lease or retention has run. Expiry follows the Redis server's clock, so the replicas' clocks
// play no part. Redis expires a key exactly when it is next read, or soon after by its
// background sweep; a key's expiry survives a restart only with persistence (RDB or AOF)
// enabled, and without it a restarted Redis forgets the seen ids: the retries that follow
// run the handler again, as with a restarted process and the memory store.
//
// # Redis Cluster, Sentinel, replicas
//
// Every command and script touches one key, the id's, so the Store works unchanged with
// Redis Cluster (a *redis.ClusterClient): each id lives on the shard of its key's slot. With
// Sentinel or a replicated primary, pass a client that sends writes to the primary (all the
// Store's commands are writes, apart from the GET after a failed SET); Redis replication is
// asynchronous, so a failover can lose the last reservations and commits, and the retries of
// those deliveries then run the handler again.
//
// # Errors
//
// Errors from Redis come back wrapped with the operation and the id (ids are not secret), so
// errors.Is sees context.Canceled, context.DeadlineExceeded and go-redis's own errors
// through them. The Store never formats the client's options, so an error never carries the
// password of the client's URL. The receiver answers 503 when Reserve fails, so the sender
// retries; it logs Commit and Release errors.
package redisseen
