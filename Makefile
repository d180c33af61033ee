# The two commands of the README: `make run` and `make test`. Everything else
# is CMake; this file only sequences install -> configure -> build -> run.
BUILD     ?= build
BUILD_SAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?=
JOBS      ?= $(shell nproc)
ARGS      ?=
# Development and CI builds: warnings are errors (a plain cmake build, a
# packager's, does not set it). /usr: what `make install` and the package use.
CMAKE_FLAGS ?= -DCMAKE_INSTALL_PREFIX=/usr -DSYSLENS_WERROR=ON

.PHONY: all deps test-deps bench-deps build run test unit-asan unit-tsan fuzz bench package package-arm64 clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test
	@scripts/install-deps --arm64

bench-deps:
	@scripts/install-deps --bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Starts syslensd with its embedded defaults: metrics on :9823/metrics.
run: build
	$(BUILD)/daemon/syslensd $(ARGS)

# Every test: the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
# and under ThreadSanitizer, every parser fuzzed (a fixed set of inputs), then unit,
# real-kernel and end-to-end tests (as root), one at a time; last, the VM tier
# beside the release packager build: QEMU emulates with one thread, so a core
# stays free for the VM's whole run (measured: 541 s for both, 843 s one after
# the other). Both runs go; either failing fails the target.
PAIRED := ^(vm\.|package\.release_build$$)
test: test-deps build unit-asan unit-tsan fuzz
	cd $(BUILD) && { ctest --output-on-failure --timeout 600 -E '$(PAIRED)'; first=$$?; \
	  ctest --output-on-failure --timeout 600 -j 2 -R '$(PAIRED)' -FS 'deb_old|deb_new|deb_arm64'; second=$$?; \
	  [ $$first -eq 0 ] && [ $$second -eq 0 ]; }

unit-asan: test-deps
	cmake -S . -B $(BUILD_SAN) -DSYSLENS_SANITIZE=ON -DSYSLENS_WERROR=ON -DSYSLENS_UNIT_TESTS_ONLY=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD_SAN) -j $(JOBS) --target unit_tests
	cd $(BUILD_SAN) && ctest --output-on-failure --timeout 300 -L unit

unit-tsan: test-deps
	cmake -S . -B $(BUILD_TSAN) -DSYSLENS_TSAN=ON -DSYSLENS_WERROR=ON -DSYSLENS_UNIT_TESTS_ONLY=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD_TSAN) -j $(JOBS) --target unit_tests
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure --timeout 300 -L unit

# libFuzzer targets (clang) for every parser of outside input, from the seed
# corpus in tests/fuzz/corpus: a fixed number of inputs with a fixed seed, the
# same on every machine; FUZZ_SECONDS=600 fuzzes each that long instead.
fuzz: test-deps
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSYSLENS_FUZZ=ON -DSYSLENS_WERROR=ON \
	  -DSYSLENS_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_targets
	cd $(BUILD_FUZZ) && ctest --output-on-failure -L fuzz

# A Debian package: build/syslens_<version>_<arch>.deb. ARCH=arm64 cross-builds
# it on an x86_64 host: build-arm64/syslens_<version>_arm64.deb (the daemon,
# the CLI, the BPF object for arm64, and the unit tests, run here under QEMU).
HOST_ARCH := $(shell dpkg --print-architecture)
ARCH ?= $(HOST_ARCH)
BUILD_ARM64 ?= build-arm64
ifeq ($(ARCH),$(HOST_ARCH))
package: build
	cd $(BUILD) && cpack -G DEB
else ifeq ($(ARCH),arm64)
package: package-arm64
else
package:
	@echo "make package: ARCH=$(ARCH) is not supported (the host's, $(HOST_ARCH), or arm64)" >&2; exit 2
endif

package-arm64:
	@scripts/install-deps --arm64
	scripts/arm64-sysroot $(BUILD_ARM64)/sysroot
	cmake -S . -B $(BUILD_ARM64) -DCMAKE_TOOLCHAIN_FILE=cmake/arm64-toolchain.cmake \
	  -DSYSLENS_SYSROOT=$(abspath $(BUILD_ARM64))/sysroot $(CMAKE_FLAGS)
	cmake --build $(BUILD_ARM64) -j $(JOBS)
	cd $(BUILD_ARM64) && cpack -G DEB

# The benchmark suite (as root): micro (ns per syscall against the floor and
# the peers), macro (nginx under wrk), scale (1,000 cgroups, churn, load),
# scrape (the scrape path alone, synthetic).
bench: bench-deps build
	$(BUILD)/bench/syslens-bench $(ARGS)
	python3 bench/macro.py $(BUILD)
	python3 bench/scale.py $(BUILD)
	$(BUILD)/bench/syslens-bench-scrape

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_ARM64)
