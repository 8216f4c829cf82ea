// Package testtier decides, in one line, whether a test can run on this host
// and says why when it cannot (DESIGN.md §6, STYLE 2.16):
//
//	func TestBootKernel(t *testing.T) {
//		testtier.RequireKVM(t)
//		kernel := testtier.RequireFile(t, "HULL_TEST_KERNEL", "guest kernel")
//		...
//	}
//
// Run directly (`go test ./...`) a test skips with one line when the host
// lacks what it needs. The Makefile's tiers turn skips into failures where a
// skip would hide a missing capability, so a skipped test can never count as
// passed there:
//
//	HULL_TIER=unit|host|kvm  set by each tier of `make test`. The unit tier
//	                         skips every RequireRoot and RequireKVM test, the
//	                         host tier every RequireKVM test: those belong to a
//	                         later tier, whatever this host offers.
//	HULL_REQUIRE_KVM=1       kvm tier: RequireKVM and RequireFile fail instead
//	                         of skipping.
//	HULL_REQUIRE_ROOT=1      host tier: RequireRoot fails instead of skipping.
//	HULL_REQUIRE_TOOLS=1     RequireTool fails instead of skipping (set by
//	                         `make test` when it could install the tools).
//
// The package uses only the standard library, so any test may import it.
package testtier
