// Package simkit holds the pieces the ahacc simulators (Aha! and Centercode) share:
// fault injection (errors, latency, "commit then time out"), a per-key sliding-window
// rate limiter with X-Ratelimit-* headers, a JSON response writer and a bounded recorder
// of received requests for inspection endpoints.
//
// It is test and demo infrastructure; nothing in the product's request path imports it.
package simkit
