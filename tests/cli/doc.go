// Package clitests runs the hull binary the way a user does and checks what
// it prints and returns, for inputs that fail before any VM exists — so they
// need no KVM and run in the unit tier (DESIGN.md §6). The `hull vm boot`
// tests that boot guests are in tests/kvm.
//
// The binary is HULL_BIN when set, otherwise built from ./cmd/hull into a
// temp dir once per test run:
//
//	go test ./tests/cli
//	HULL_BIN=$PWD/bin/hull go test ./tests/cli
package clitests
