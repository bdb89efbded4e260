# cgfs — build, run and test. `make run` and `make test` work on a fresh Debian machine with
# the .NET SDK: they install what is missing (Debian's fuse3 for fusermount3) first.

DOTNET        ?= dotnet
CONFIGURATION ?= Release
OUT           := out
MNT           ?= ./mnt
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test-deps build run test stress bench install uninstall clean

all: build

## deps: what building and mounting need: fusermount3 (fuse3), and NativeAOT's native link step
## (gcc as the linker, libc6-dev, zlib1g-dev)
BUILD_PACKAGES := fuse3 gcc libc6-dev zlib1g-dev
deps:
	@missing=""; \
	for p in $(BUILD_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@[ -e /dev/fuse ] || { echo "error: /dev/fuse is missing (load the fuse module or run a privileged container)"; exit 1; }

RID           := linux-$(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')

## build: produce out/cgfs, a NativeAOT executable: no .NET runtime needed where it runs, and a
##        mount is ready in ~20 ms instead of ~150 ms (ReadyToRun)
build: deps
	$(DOTNET) publish src/CgFs/CgFs.csproj -c $(CONFIGURATION) -o $(OUT) -r $(RID) -p:PublishAot=true --nologo -v quiet

## run: mount at ./mnt with the embedded default devices and resources; Ctrl-C unmounts
run: build
	@mkdir -p $(MNT)
	@echo "cgfs mounted at $(MNT) — Ctrl-C to unmount"
	@$(OUT)/cgfs mount $(MNT) -f

## test-deps: tools the shell-driven tests use beyond Debian's essential set:
## setfattr/getfattr (attr), pgrep/pkill/ps (procps), gcc (C probes), and the unmodified programs
## `cgfs exec` is tested with: runc, libcgroup's tools, systemd-cgls, busybox (a container's rootfs),
## Go with runc's and containerd's cgroup libraries (built in GOPATH mode, no module proxy); curl and the
## official Prometheus client's parser (python3-prometheus-client) scrape and check --metrics; tmux is the
## terminal `cgfs top` is tested in
TEST_PACKAGES := attr procps gcc libc6-dev runc cgroup-tools systemd busybox-static golang-go \
                 golang-github-opencontainers-runc-dev golang-github-containerd-cgroups-dev \
                 curl python3-prometheus-client tmux
test-deps:
	@missing=""; \
	for p in $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

## test: every test, including the ones that mount a real cgfs and drive it with bash — on FUSE over
##       io_uring where the kernel has it (the tests switch enable_uring on and restore it), then the
##       mounting tests again on /dev/fuse; then the in-process tests once more in Debug, where every
##       *Locked method asserts the engine lock is held
MOUNTING_TESTS := FullyQualifiedName~.Integration.|FullyQualifiedName~.Exec.|FullyQualifiedName~.Plugins.|FullyQualifiedName~ControlServerAbuse
ENABLE_URING   := /sys/module/fuse/parameters/enable_uring
test: build test-deps
	rm -f TestResults/*.trx
	@if [ -w $(ENABLE_URING) ]; then first=io_uring; else first=dev_fuse; echo "no FUSE over io_uring here ($(ENABLE_URING) missing or read-only): /dev/fuse only"; fi; \
	CGFS_TEST_TRANSPORT=$$first $(DOTNET) test tests/CgFs.Tests/CgFs.Tests.csproj -c $(CONFIGURATION) --nologo \
	  --results-directory TestResults --logger "trx;LogFileName=cgfs-$$first.trx" --logger "console;verbosity=normal" || rc=1; \
	if [ $$first = io_uring ]; then \
	  CGFS_TEST_TRANSPORT=dev_fuse $(DOTNET) test tests/CgFs.Tests/CgFs.Tests.csproj -c $(CONFIGURATION) --nologo --no-build \
	    --filter "$(MOUNTING_TESTS)" --results-directory TestResults --logger "trx;LogFileName=cgfs-dev_fuse.trx" \
	    --logger "console;verbosity=minimal" || rc=1; \
	fi; \
	exit $${rc:-0}
	$(DOTNET) build bench/CgFs.Benchmarks -c $(CONFIGURATION) --nologo -v quiet
	$(DOTNET) test tests/CgFs.Tests/CgFs.Tests.csproj -c Debug --nologo -v q \
	  --filter "FullyQualifiedName!~.Integration."

## stress: the reliability suite at full size (10^5 fuzzed writes, 8 x 10^5 engine ops, 1,000 killed holders,
##         memory soaks: 32 shell workers x 4 rounds of cgroup churn, 10^4 holders, 10^4 pollers, 10^5 stale opens)
stress: build test-deps
	CGFS_STRESS=full $(DOTNET) test tests/CgFs.Tests/CgFs.Tests.csproj -c $(CONFIGURATION) --nologo \
	  --filter "TestCategory=Stress" --logger "console;verbosity=normal"

## bench: cgfs against the kernel's cgroup2 in the same run, plus engine micro-benchmarks (not part of test)
bench: build test-deps
	@for p in gcc libc6-dev libfuse3-dev pkg-config; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi
	scripts/bench.sh

## install: the native binary (no .NET needed on the host) into $(PREFIX)/bin, where mount.fuse3 finds
##          it for fstab lines, systemd .mount units and `mount -t fuse.cgfs` (mount(8) runs helpers
##          without the caller's PATH); packaging/ has a systemd mount unit and an fstab line
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(OUT)/cgfs $(DESTDIR)$(PREFIX)/bin/cgfs

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/cgfs

clean:
	rm -rf $(OUT) TestResults src/*/bin src/*/obj tests/*/bin tests/*/obj
