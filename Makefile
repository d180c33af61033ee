# The two commands of the README: `make run` and `make test`. Everything else
# is CMake; this file only sequences install -> configure -> build -> run.
BUILD     ?= build
BUILD_SAN ?= build-asan
JOBS      ?= $(shell nproc)
ARGS      ?=
# /usr, so that the installed unit and the Debian package agree on paths.
CMAKE_FLAGS ?= -DCMAKE_INSTALL_PREFIX=/usr

.PHONY: all deps test-deps bench-deps build run test unit-asan bench package clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

bench-deps:
	@scripts/install-deps --bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Starts syslensd with its embedded defaults: metrics on :9823/metrics.
run: build
	$(BUILD)/daemon/syslensd $(ARGS)

# Every test: unit, real-kernel and end-to-end (as root), then the unit tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-deps build unit-asan
	cd $(BUILD) && ctest --output-on-failure --timeout 600

unit-asan: test-deps
	cmake -S . -B $(BUILD_SAN) -DSYSLENS_SANITIZE=ON -DSYSLENS_UNIT_TESTS_ONLY=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD_SAN) -j $(JOBS) --target unit_tests
	cd $(BUILD_SAN) && ctest --output-on-failure -L unit

# A Debian package: build/syslens_<version>_<arch>.deb
package: build
	cd $(BUILD) && cpack -G DEB

# The benchmark suite (as root): micro (ns per syscall against the floor and
# the peers), macro (nginx under wrk), scale (1,000 cgroups, churn, load).
bench: bench-deps build
	$(BUILD)/bench/syslens-bench $(ARGS)
	python3 bench/macro.py $(BUILD)
	python3 bench/scale.py $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
