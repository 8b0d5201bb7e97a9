package receiver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ProblemTypeBase is the prefix of the "type" member of every problem document the
// receiver writes: the full type is ProblemTypeBase followed by the Reason, for example
// "https://hookkit.dev/problems/invalid-signature".
const ProblemTypeBase = "https://hookkit.dev/problems/"

// Reason names the class of a rejected delivery. It is the last path segment of the problem
// type URI, the value passed to RequestObserver.Rejected and the "reason" attribute of log records.
type Reason string

// The reasons a delivery can be rejected for, with the HTTP status each one produces.
const (
	// ReasonMethodNotAllowed: the request method is not POST (405, with Allow: POST).
	ReasonMethodNotAllowed Reason = "method-not-allowed"
	// ReasonBodyTooLarge: the body is larger than Config.MaxBodyBytes (413).
	ReasonBodyTooLarge Reason = "body-too-large"
	// ReasonUnreadableBody: reading the request body failed before the limit was reached,
	// for example because the client went away (400).
	ReasonUnreadableBody Reason = "unreadable-body"
	// ReasonInvalidCredentials: credentials are missing or invalid (401, with WWW-Authenticate).
	ReasonInvalidCredentials Reason = "invalid-credentials"
	// ReasonInsufficientScope: the credentials are valid but lack a required scope (403).
	ReasonInsufficientScope Reason = "insufficient-scope"
	// ReasonAuthUnavailable: the credential validator could not decide, for example because
	// an introspection endpoint is down (503, with Retry-After).
	ReasonAuthUnavailable Reason = "auth-unavailable"
	// ReasonInvalidSignature: the signature headers are missing, malformed or match none of
	// the active keys (401).
	ReasonInvalidSignature Reason = "invalid-signature"
	// ReasonTimestamp: the signed timestamp is outside the tolerance (401). A replayed old
	// delivery is rejected with this reason.
	ReasonTimestamp Reason = "timestamp-out-of-tolerance"
	// ReasonInvalidEvent: the verified body is not a valid event (400).
	ReasonInvalidEvent Reason = "invalid-event"
	// ReasonInFlight: a delivery with the same id is being handled right now (503, with
	// Retry-After: 1), so the sender retries and then gets the duplicate acknowledgement.
	ReasonInFlight Reason = "delivery-in-progress"
	// ReasonUnavailable: the receiver cannot decide now (the seen-id store failed or the key
	// set has no active key) (503, with Retry-After).
	ReasonUnavailable Reason = "temporarily-unavailable"

	// ReasonUnknownEventType: the Router has no handler for the event type and its
	// RouterConfig has RejectUnknown set (422).
	ReasonUnknownEventType Reason = "unknown-event-type"
	// ReasonRetryLater: a Router handler returned an error made with Retryable (503, with
	// Retry-After when one was given).
	ReasonRetryLater Reason = "retry-later"
	// ReasonPermanent: a Router handler returned an error made with Permanent (422).
	ReasonPermanent Reason = "rejected"
	// ReasonHandlerError: a Router handler returned any other error, or the Router was used
	// without the middleware in front of it (500).
	ReasonHandlerError Reason = "handler-error"
)

type problemDef struct {
	status int
	title  string
	detail string
}

var problemDefs = map[Reason]problemDef{
	ReasonMethodNotAllowed:   {http.StatusMethodNotAllowed, "Method not allowed", "webhook deliveries must use POST"},
	ReasonBodyTooLarge:       {http.StatusRequestEntityTooLarge, "Body too large", "the request body exceeds the size this receiver accepts"},
	ReasonUnreadableBody:     {http.StatusBadRequest, "Unreadable body", "the request body could not be read"},
	ReasonInvalidCredentials: {http.StatusUnauthorized, "Invalid credentials", "the request credentials are missing or not valid"},
	ReasonInsufficientScope:  {http.StatusForbidden, "Insufficient scope", "the credentials do not grant access to this endpoint"},
	ReasonAuthUnavailable:    {http.StatusServiceUnavailable, "Authentication unavailable", "the credentials cannot be checked right now; retry later"},
	ReasonInvalidSignature:   {http.StatusUnauthorized, "Invalid signature", "the webhook signature is missing, malformed or not valid"},
	ReasonTimestamp:          {http.StatusUnauthorized, "Timestamp out of tolerance", "the signed timestamp is too far from the receiver's clock"},
	ReasonInvalidEvent:       {http.StatusBadRequest, "Invalid event", "the body is not a valid event"},
	ReasonInFlight:           {http.StatusServiceUnavailable, "Delivery in progress", "a delivery with the same id is being processed; retry later"},
	ReasonUnavailable:        {http.StatusServiceUnavailable, "Temporarily unavailable", "the delivery cannot be processed right now; retry later"},
	ReasonUnknownEventType:   {http.StatusUnprocessableEntity, "Unknown event type", "this endpoint does not accept events of this type"},
	ReasonRetryLater:         {http.StatusServiceUnavailable, "Retry later", "the event could not be processed now; retry later"},
	ReasonPermanent:          {http.StatusUnprocessableEntity, "Event rejected", "the event was rejected and must not be retried"},
	ReasonHandlerError:       {http.StatusInternalServerError, "Handler error", "the event could not be processed"},
}

// problemBodies holds the pre-rendered RFC 9457 documents, built once at start-up and never
// written to afterwards.
var problemBodies = func() map[Reason][]byte {
	out := make(map[Reason][]byte, len(problemDefs))
	for r, d := range problemDefs {
		b, err := json.Marshal(struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}{ProblemTypeBase + string(r), d.title, d.status, d.detail})
		if err != nil {
			panic(err) // unreachable: only strings and ints
		}
		out[r] = append(b, '\n')
	}
	return out
}()

// Status reports the HTTP status the receiver answers with for r, or 0 for an unknown reason.
func (r Reason) Status() int { return problemDefs[r].status }

// TypeURI returns the problem type URI of r: ProblemTypeBase + r.
func (r Reason) TypeURI() string { return ProblemTypeBase + string(r) }

// writeProblem writes the problem document for reason. retryAfter > 0 sets Retry-After
// (whole seconds, rounded up).
func writeProblem(w http.ResponseWriter, reason Reason, retryAfter time.Duration) {
	body, ok := problemBodies[reason]
	if !ok {
		reason = ReasonHandlerError
		body = problemBodies[reason]
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(retryAfter), 10))
	}
	w.WriteHeader(problemDefs[reason].status)
	_, _ = w.Write(body)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	if s < 1 {
		s = 1
	}
	return s
}
