// Package e2e holds ahacc's end-to-end tests (issue 4, "Done when"): the real
// worker and starter code against an in-process Temporal server, a real Redis
// and both simulators, driven through HTTP and the simulators' Go inspection.
//
// The tests need a Redis server: REDIS_TEST_URL (default
// redis://127.0.0.1:6379/0) names it; the tests use database 9 of that server
// (AHACC_E2E_REDIS_DB overrides) and flush it at start, because the dedup
// store's key prefix is fixed. They skip when no Redis answers, and in -short
// mode.
package e2e
