// Package event is hookkit's message: one SIM-style JSON event per delivery, with the field
// names and types of DocuSign Connect's JSON SIM messages plus a stable id.
//
// A message on the wire looks like this:
//
//	{"id":"evt_3yQe…","event":"envelope-completed","apiVersion":"v2.1",
//	 "uri":"/restapi/v2.1/accounts/…/envelopes/…","retryCount":0,"configurationId":10,
//	 "generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"…"}}
//
// The sender side builds an Event with New(type, data), which generates the id and takes
// the current time, and sets any optional field on the returned *Event directly:
//
//	ev, err := event.New("envelope-completed", envelope)
//	if err != nil { … }
//	ev.ID = "evt_" + envelope.ID // instead of the generated one
//	ev.URI = "/envelopes/" + envelope.ID
//
// Encode then validates the whole event (so an invalid id set after New is refused there
// with ErrInvalidID) and marshals it once; every delivery attempt takes its body from the
// same Encoded bytes, with only the retryCount digits differing, so the bytes that are
// signed are the bytes that are sent.
//
// The receiver side calls Parse on the verified body and reads the data with Decode[T].
// A received event needs one field only, "event" (its type): a missing id is derived with
// DeriveID (DocuSign Connect's own messages carry none) and a missing or null "data" is
// the empty object {}.
//
// Subscriptions select events by type with a Filter of Patterns: an exact name
// ("envelope-sent"), a prefix wildcard ("envelope-*") or "*" for everything, as the events
// list of a Connect configuration does.
//
// The package does no I/O and never imports net/http.
package event
