// Package drills holds the failure drills made from outside the jongler
// package: attacks on API Jongler the way a production fleet or a hostile
// neighbour would make them: processes SIGKILLed or SIGSTOPped while they
// hold a key, several processes racing for one state directory or one
// Redis, a state directory damaged, planted with links, on a full or
// read-only file system, redis-server killed and restarted empty. A drill
// that needs whole processes re-executes its own test binary as child
// processes (a test named ...Child, ...Worker or ...Member, which skips
// unless the parent set the role variable), then checks from the parent
// what the children and the simulated upstream saw: no key used by two
// requests at once, no request lost, no key value in any output.
//
// The package has no code of its own, only tests. Run them with
//
//	go test -race ./drills/
//
// They take a few minutes; go test -short skips the slow ones, those that
// run processes for seconds. The soak runs for 30 seconds unless told
// otherwise, by a flag of this package's tests, which comes after the
// package:
//
//	go test -race -run '^TestSoak$' ./drills/ -soak=10m
//
// The Redis drills (TestFleetDrill, TestFreeTierAcrossProcesses) start their
// own redis-server, which must be in PATH. DRILLS.md lists every drill, the
// attack it makes and what it holds.
package drills
