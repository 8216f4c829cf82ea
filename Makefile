# hull: build and test (DESIGN.md §6, STYLE 2.16).
#
#   make test       install what the tiers need, then run every test tier this
#                   host supports: unit, host, kvm. Each tier prints a header;
#                   a skipped tier prints exactly one line "SKIP tier <name>:
#                   <why>". Ends with one summary line per tier; fails if any
#                   tier failed.
#   make test-unit  go vet + go test -race ./... (no root, no KVM)
#   make test-host  root-only tests (./tests/host/... and tests calling
#                   testtier.RequireRoot), with HULL_REQUIRE_ROOT=1
#   make test-kvm   tests on real KVM: on this host's /dev/kvm when `hull check`
#                   calls it healthy, else all of them in ONE call of the nested
#                   runner (tests/nested/nested-kvm), with HULL_REQUIRE_KVM=1
#   make guest      build the default guest image (hull image build; cached)
#   make build | run | deps | lint | bench | fuzz | clean
#   (PKGS=./boot narrows test-unit, lint, bench and fuzz; FUZZTIME=10s per target)
#
# Tier conventions: HULL_TIER=unit|host|kvm tells internal/testtier which tier
# runs, so a RequireKVM test never runs in the unit or host tier and a
# RequireRoot test never in the unit tier, whatever the host offers. The
# HULL_REQUIRE_* variables turn the tier's own skips into failures, so a
# skipped test can never count as passed.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

GO ?= go
MODULE := github.com/hullvm/hull
# packages whose tests make up the kvm tier (missing ones are skipped)
KVM_PKGS ?= ./kvm ./hostcheck ./vmm ./tests/kvm ./tests/containerd
# the nested runner's limit for the whole kvm tier, seconds
NESTED_TIMEOUT ?= 1200
# seconds without a heartbeat from L1 after which the runner stops it
NESTED_STALL ?= 90
# packages for test-unit, lint, bench and fuzz
PKGS ?= ./...
FUZZTIME ?= 10s

# apt packages the tiers need: the race detector (gcc), the test guests (gcc,
# make), the nested runner (qemu-system-x86, linux-image-amd64 for its L1
# kernel with kvm_amd, busybox-static, binutils for readelf), the OCI
# comparisons (runc for tests/oci, containerd for tests/containerd) and what
# guest/build-kernel.sh --install installs (read from that script).
KERNEL_BUILD_PKGS := $(shell sed -n 's/^pkgs="\(.*\)"$$/\1/p' guest/build-kernel.sh 2>/dev/null)
DEPS_PKGS := gcc make binutils qemu-system-x86 linux-image-amd64 busybox-static runc containerd $(KERNEL_BUILD_PKGS)

# skip TIER WHY: the one line a skipped tier prints; under `make test` it also
# tells the summary that the tier was skipped, not passed.
define SKIP_FN
skip() { echo "SKIP tier $$1: $$2"; if [ -n "$${HULL_TIER_STATUS:-}" ]; then echo "$$2" > "$$HULL_TIER_STATUS"; fi; }
endef

.PHONY: all build deps test test-unit test-host test-kvm run lint bench bench-go fuzz clean

all: build

# static (no cgo), reproducible paths
BUILD_HULL = mkdir -p bin && CGO_ENABLED=0 $(GO) build -trimpath -o bin/hull ./cmd/hull

build:
	$(BUILD_HULL)

# Idempotent and quiet when everything is installed; `apt-get update` only
# when an install fails. Not root: says what is missing and goes on (the
# tiers that need it then skip or fail and say why).
deps:
	@command -v dpkg-query >/dev/null || { echo "deps: no dpkg-query here; install by hand: $(DEPS_PKGS)"; exit 0; }
	missing=""
	for p in $(DEPS_PKGS); do
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing+=" $$p"
	done
	[ -n "$$missing" ] || exit 0
	if [ "$$(id -u)" != 0 ]; then
	  echo "deps: missing$$missing; not root, so not installing them (run: sudo make deps)"
	  exit 0
	fi
	echo "deps: installing$$missing"
	export DEBIAN_FRONTEND=noninteractive
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT
	apt_install() { apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends $$missing >"$$log" 2>&1; }
	apt_install || { apt-get update -qq >"$$log" 2>&1 && apt_install; } ||
	  { tail -n 20 "$$log"; echo "deps: apt-get install$$missing failed"; exit 1; }

test: deps
	@rc=0 summary=()
	status=$$(mktemp); trap 'rm -f "$$status"' EXIT
	# deps installed every tool a test may ask testtier.RequireTool for
	if [ "$$(id -u)" = 0 ]; then export HULL_REQUIRE_TOOLS=1; fi
	for tier in unit host kvm; do
	  : > "$$status"; t0=$$SECONDS
	  if HULL_TIER_STATUS=$$status $(MAKE) test-$$tier; then r=PASS; else r=FAIL; rc=1; fi
	  if [ "$$r" = PASS ] && [ -s "$$status" ]; then r="SKIP: $$(cat "$$status")"; fi
	  summary+=("tier $$tier: $$r ($$((SECONDS - t0)) s)")
	done
	echo "==> make test summary"
	printf '%s\n' "$${summary[@]}"
	exit $$rc

test-unit:
	@echo "==> tier unit: go vet, go test -race $(PKGS) (HULL_TIER=unit: no root, no KVM)"
	rc=0
	$(GO) vet $(PKGS) || { rc=1; echo "tier unit: go vet failed (go test runs anyway)"; }
	race=-race
	if ! command -v gcc >/dev/null; then echo "tier unit: no gcc for the race detector (make deps); running without -race"; race=""; fi
	HULL_TIER=unit CGO_ENABLED=1 $(GO) test $$race -count=1 $(PKGS) || rc=1
	exit $$rc

test-host:
	@echo "==> tier host: root tests: ./tests/host/... and tests calling testtier.RequireRoot (HULL_REQUIRE_ROOT=1)"
	$(SKIP_FN)
	if [ "$$(id -u)" != 0 ]; then skip host "not root (uid $$(id -u)); run as root"; exit 0; fi
	pats=()
	if [ -d tests/host ]; then pats+=(./tests/host/...); fi
	while IFS= read -r d; do pats+=("$$d"); done < <(grep -rl --include='*_test.go' --exclude-dir=.git \
	  --exclude-dir=bin --exclude-dir=testdata 'testtier\.RequireRoot' . | xargs -r -n1 dirname | sort -u)
	pkgs=$$( [ $${#pats[@]} = 0 ] || $(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$${pats[@]}" | sort -u)
	if [ -z "$$pkgs" ]; then skip host "no host-tier tests yet"; exit 0; fi
	# the guest image the QEMU boot tests (tests/host) need; cached
	$(BUILD_HULL)
	img=$$(bin/hull image build)
	export HULL_TEST_IMAGE_KERNEL=$$(sed -n 1p <<< "$$img") HULL_TEST_IMAGE_INITRD=$$(sed -n 2p <<< "$$img")
	HULL_TIER=host HULL_REQUIRE_ROOT=1 $(GO) test -count=1 $$pkgs

test-kvm:
	@echo "==> tier kvm: tests on real KVM, here or in the nested runner (HULL_REQUIRE_KVM=1)"
	$(SKIP_FN)
	dirs=()
	for p in $(KVM_PKGS); do if compgen -G "$$p/*.go" >/dev/null; then dirs+=("$$p"); fi; done
	pkgs=$$( [ $${#dirs[@]} = 0 ] || $(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$${dirs[@]}")
	if [ -z "$$pkgs" ]; then skip kvm "no kvm-tier test packages yet (KVM_PKGS=$(KVM_PKGS))"; exit 0; fi
	# where: this host's KVM if hull check calls it healthy, else the nested runner
	# (no recursive make call in this recipe: `make -n test` would run it all)
	$(BUILD_HULL)
	if [ -x bin/hull ] && verdict=$$(bin/hull check --quiet 2>&1); then where=here
	else
	  [ -x bin/hull ] || verdict="no bin/hull"
	  where=nested verdict=$$(printf '%s\n' "$${verdict:-hull check failed}" | head -n1)
	  if [ "$${NESTED_KVM:-}" = 1 ]; then echo "tier kvm: inside the nested runner and still no healthy KVM ($$verdict)"; exit 1; fi
	  if ! why=$$(tests/nested/nested-kvm --check 2>&1); then
	    skip kvm "no healthy /dev/kvm ($$verdict) and no nested runner ($${why#nested-kvm: })"; exit 0
	  fi
	fi
	# what the tests need: test guests, guest kernel, default image, hello-init, test binaries
	if [ -f tests/guest/Makefile ]; then MAKEFLAGS= make --no-print-directory -C tests/guest all
	else echo "tier kvm: no tests/guest/Makefile yet, so no test guests"; fi
	HULL_TEST_KERNEL=$$(guest/build-kernel.sh --install); export HULL_TEST_KERNEL
	img=$$(bin/hull image build)
	export HULL_TEST_IMAGE_KERNEL=$$(sed -n 1p <<< "$$img") HULL_TEST_IMAGE_INITRD=$$(sed -n 2p <<< "$$img")
	if [ -n "$$(ls tests/guest/hello-init/*.go 2>/dev/null)" ]; then
	  CGO_ENABLED=0 $(GO) build -trimpath -o bin/hello-init ./tests/guest/hello-init
	else echo "tier kvm: no tests/guest/hello-init yet"; fi
	rm -rf bin/kvmtest; mkdir -p bin/kvmtest
	for ip in $$pkgs; do
	  rel=$${ip#$(MODULE)/}; name=$${rel//\//-}
	  CGO_ENABLED=0 $(GO) test -c -trimpath -o "bin/kvmtest/$$name.test" "./$$rel"
	  echo "$$rel" > "bin/kvmtest/$$name.test.dir"
	done
	if [ "$$where" = here ]; then tests/run-kvm-tier.sh; exit; fi
	echo "kvm tier: no healthy /dev/kvm here ($$verdict); running it in the nested runner"
	# L1 now and then freezes (tests/nested/README.md, "stalls"): the runner
	# then stops it within --stall seconds, prints where its vCPUs were, and
	# exits 123 (124: the whole call ran past NESTED_TIMEOUT). The tier then
	# resumes in a fresh L1: binaries that ran to their end are counted, not
	# rerun (HULL_KVM_STATE). Test failures are never retried.
	export HULL_KVM_STATE=$$PWD/bin/kvmtest/.state
	rc=0
	for call in 1 2 3; do
	  rc=0; tests/nested/nested-kvm --stall $(NESTED_STALL) --timeout $(NESTED_TIMEOUT) -- tests/run-kvm-tier.sh || rc=$$?
	  case $$rc in 123|124) ;; *) break;; esac
	  why="L1 froze"; [ $$rc = 123 ] || why="over $(NESTED_TIMEOUT) s"
	  echo "kvm tier: STALL: the nested runner stopped ($$why) in call $$call of 3$$([ $$call = 3 ] || echo "; resuming the tier in a fresh L1")"
	done
	exit $$rc

# make guest: build (or find cached) the default guest image: the kernel
# (guest/build-kernel.sh) and an initramfs with hull-agent as /init plus a
# u-root busybox (guestimage). Prints progress, sizes and paths.
guest: build
	@bin/hull image build

# make run: build hull and the default guest image (cached), then let
# tests/run-demo.sh boot it (natively or nested) with hull.agent.exit=ready:
# the agent comes up, powers the VM off, and the timeline is printed.
run: deps build
	@img=$$(bin/hull image build)
	tests/run-demo.sh "$$(sed -n 1p <<< "$$img")" "$$(sed -n 2p <<< "$$img")"

lint:
	@$(GO) vet $(PKGS)
	bad=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './bin/*' -print0 | xargs -0 -r gofmt -l)
	if [ -n "$$bad" ]; then echo "gofmt -l: not formatted:"; echo "$$bad"; exit 1; fi

# make bench: hull beside its baselines in one run (docs/BENCHMARKS.md):
# boot to the guest's /init vs QEMU microvm, I/O-exit round trip vs a minimal
# C KVM loop, start to first KVM_RUN, VMM memory; natively on healthy KVM,
# else in the nested runner. make bench-go: the Go micro-benchmarks.
bench: deps build
	@kernel=$$(guest/build-kernel.sh --install)
	MAKEFLAGS= make --no-print-directory -C tests/guest all
	MAKEFLAGS= make --no-print-directory -C tests/bench all
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/hello-init ./tests/guest/hello-init
	bin/hull image initrd --init bin/hello-init -o bin/hello.cpio
	if verdict=$$(bin/hull check --quiet 2>&1); then tests/bench/run.sh "$$kernel" bin/hello.cpio; exit; fi
	echo "bench: no healthy KVM here ($$(printf '%s' "$$verdict" | head -c 120)...); running in the nested runner"
	tests/nested/nested-kvm --timeout 900 -- tests/bench/run.sh "$$kernel" bin/hello.cpio

bench-go:
	$(GO) test -run '^$$' -bench . $(PKGS)

# every Fuzz target for FUZZTIME (default 10s), one at a time
fuzz:
	@list=$$($(GO) test -list '^Fuzz' $(PKGS) | awk '/^Fuzz/ { f[n++] = $$1; next }
	  /^ok/ { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }')
	if [ -z "$$list" ]; then echo "fuzz: no Fuzz targets yet"; exit 0; fi
	while read -r pkg fn; do
	  echo "==> fuzz $$pkg $$fn ($(FUZZTIME))"
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg"
	done <<< "$$list"

clean:
	rm -rf bin tests/guest/build tests/bench/build
