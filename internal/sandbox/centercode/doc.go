// Package centercode is an in-memory simulator of the parts of Centercode that ahacc
// talks to: external sources (create feedback), external listeners (user data, feedback
// custom data, comments, macro runs), record lookup, and webhook macros that call back
// into ahacc. It is used by the dev stack (`make run`), demos, tests and benchmarks; the
// product never imports it.
//
// Centercode publishes its integration features only in outline (see
// docs/centercode.md). The simulator implements what is "Known" there and
// exactly the six "Assumed" points, each named in code as a constant with a comment
// "Assumption N (centercode.md)". Two further points are assumptions of ahacc's own,
// named AssumptionLookupByElement and AssumptionNoMacroRetry, and a few behaviours where
// the reference says nothing are marked "Simulator choice".
//
// # URLs
//
//	POST /api/v1/projects/{projectKey}/feedback/externalSources/{sourceKey}?apiKey=KEY  create feedback (Assumption 1–3)
//	GET  /api/v1/projects/{projectKey}/feedback/{id}?apiKey=KEY                          record lookup
//	GET  /api/v1/projects/{projectKey}/feedback?element=NAME&value=V&apiKey=KEY          lookup by element value (ahacc's assumption)
//	GET  /api/v1/projects/{projectKey}/feedback?externalReference=V&apiKey=KEY           lookup by external reference (same assumption)
//	POST /api/v1/listeners/{listenerKey}?apiKey=KEY                                      external listener (Assumption 4)
//
// Simulator control and inspection (no API key; loopback only):
//
//	GET  /__sim/inspect                    everything received (see Inspection)
//	GET  /__sim/feedback/{id}              one stored feedback
//	POST /__sim/feedback/{id}/status       {"status": "Will Fix"} – fires automatic macros
//	POST /__sim/macros/{name}/run          {"feedbackId": N} – manual macro run
//	GET  /__sim/users/{email}              one user with their data groups
//	POST /__sim/users                      {"users": [...]} and/or {"generate": {"count": 10000}}
//	GET|PUT /__sim/faults                  simkit.Faults as JSON
//	GET|PUT /__sim/ratelimit               {"per_second": 50, "per_minute": 0}
//	PUT  /__sim/macros/duplicate           {"enabled": true} – deliver every macro call twice
//	PUT  /__sim/apikeys/{key}              {"disabled": true} – disable (403) or re-enable a key
//	POST /__sim/reset                      forget feedback, user data, writes, deliveries and counts (users stay)
//
// Construct with New(Config) from plain structs (see Config), then Start to listen on
// 127.0.0.1:0 (or Config.Addr), or mount the Server as an http.Handler.
package centercode
