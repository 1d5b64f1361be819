# hull: build, demo, test, bench. Everything installs what it needs from Debian first.
DEB_PKGS := busybox-static umoci skopeo containerd podman runc crun libseccomp-dev pkg-config jq hyperfine \
	systemd dbus-daemon apparmor debootstrap protobuf-compiler uidmap musl-tools gperf curl patch xz-utils
HULL_DEBUG := target/debug/hull
SID_RUNTIME ?= /usr/local/bin/hull
# Test files with sid-only (#[ignore]d) tests: the 2026 clients, podman --userns=auto and
# :idmap, rootless podman, checkpoint/restore with criu 4.2.1.
SID_TESTS ?= clients_sid mounts rootless checkpoint

# Conformance files run again against the release binary (static musl, LTO; see
# scripts/build-release.sh): what `make build` gives users and what the benchmarks measure.
RELEASE_TESTS ?= smoke lifecycle process_exec process_join security features_process features_namespaces \
	features_mounts cgroups_lifecycle runc_parity hooks2 bad_input

.PHONY: deps build demo test test-release test-v2 test-systemd test-apparmor test-sid unit conformance bench

# Install the Debian packages the build and the tests use, only if one is missing.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The release binary is static and non-PIE (see scripts/build-release.sh for why).
build: deps
	scripts/build-release.sh

# Builds hull and runs a busybox container from BUNDLE (default: a fresh busybox bundle).
demo: deps
	HULL_BIN=$$(scripts/build-release.sh) scripts/demo.sh $(BUNDLE)

# The whole test suite: unit tests, then the end-to-end conformance suite against the built
# debug binary (lifecycle, CLI, bad input, in-container features, containerd and podman), a
# subset of it against the release binary (test-release), then the
# cgroup cases inside a pure cgroup v2 VM (test-v2), then the systemd cgroup driver in a VM
# whose PID 1 is systemd (test-systemd).
test: deps
	cargo build --workspace --all-targets
	HULL_BIN=$(CURDIR)/$(HULL_DEBUG) cargo test --workspace --no-fail-fast -- --test-threads=4
	$(MAKE) test-release
	conformance/vm/run-v2.sh
	conformance/vm/apparmor/run.sh
	HULL_BIN=$(CURDIR)/$(HULL_DEBUG) conformance/vm/systemd/run.sh all
	$(MAKE) test-sid

# The musl build, as make build gives it; only where rustup cannot fetch the Rust musl target
# (build-release.sh exits 3) the glibc release build instead, said loudly.
test-release: deps
	@bin=$$(HULL_LIBC=musl scripts/build-release.sh); rc=$$?; \
	if [ $$rc = 3 ]; then \
		echo "test-release: NOT TESTING MUSL: the Rust musl target cannot be installed here; testing the glibc release build" >&2; \
		bin=$$(HULL_LIBC=glibc scripts/build-release.sh) || exit 1; \
	elif [ $$rc != 0 ]; then exit 1; fi; \
	HULL_BIN=$$bin cargo test -p hull-conformance $(foreach t,$(RELEASE_TESTS),--test $(t)) -- --test-threads=4

# The cgroup conformance cases again on a pure cgroup v2 host: a Debian kernel booted under
# qemu (KVM when usable, else TCG); see conformance/vm/README.md. TESTS="lifecycle ..." to choose.
test-v2: deps
	conformance/vm/run-v2.sh $(TESTS)

# hull --systemd-cgroup in a qemu guest booted with systemd as PID 1, on pure cgroup v2 and on
# hybrid; see conformance/vm/systemd/README.md.
test-systemd: deps
	cargo build
	HULL_BIN=$(CURDIR)/$(HULL_DEBUG) conformance/vm/systemd/run.sh all

# AppArmor profiles for real (the host runs no LSM): the lsm tests in the v2 VM booted with
# apparmor=1 security=apparmor, apparmor_parser from the host's apparmor package.
test-apparmor: deps
	conformance/vm/apparmor/run.sh

# The 2026 clients (containerd 2.1 + CRI, podman 5, docker 28, buildah) drive the debug hull
# inside the Debian sid root (built once, cached in /var/cache/hull/sid-root; see
# conformance/sid/). SID_RUNTIME=/usr/bin/runc runs the same tests against runc 1.3.6.
test-sid: deps
	cargo build -p hull --bin hull
	for t in $(SID_TESTS); do SID_RUNTIME=$(SID_RUNTIME) conformance/sid/run-tests.sh $$t || exit 1; done

bench: deps
	HULL_BIN=$$(scripts/build-release.sh) benches/run.sh
