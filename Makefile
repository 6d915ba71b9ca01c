# Front door of the build. Everything lands in build/ (programs in build/bin/);
# the sanitizer build in build-asan/, libFuzzer targets in build-fuzz/.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
FUZZ_SECONDS ?= 30
# Fuzz targets run this many at a time (one per core of the CI machine).
FUZZ_JOBS ?= 2

.PHONY: all deps test test-release test-long test-asan fuzz-build fuzz fuzz-smoke demo bench clean format firmware bench-firmware

all:
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)

deps:
	./scripts/install-deps.sh

test: deps
	$(MAKE) all
	$(MAKE) test-release
	$(MAKE) test-asan
	$(MAKE) fuzz-smoke
	@echo "make test: all suites passed"

test-release: all
	ctest --test-dir build --output-on-failure -j $(JOBS) -LE long

# The tests too slow for every run (ctest label long), on the release build.
test-long: all
	ctest --test-dir build --output-on-failure -j $(JOBS) -L long

test-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) -LE "nosan|long"

fuzz-build:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DKILN_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all

# Every target under fuzz/ for FUZZ_SECONDS each; logs in build-fuzz/fuzz-logs/, one table.
fuzz: fuzz-build
	./scripts/fuzz.sh --jobs $(FUZZ_JOBS) build-fuzz $(FUZZ_SECONDS)

# The same run as make test does it (the bundle target gets twice the time).
fuzz-smoke: fuzz-build
	./scripts/fuzz-smoke.sh build-fuzz $(FUZZ_SECONDS)

demo: deps all
	./scripts/demo.sh

bench: all
	./scripts/bench.sh

# The device library on QEMU's mps2-an386 (Cortex-M4): Mbed TLS and libcbor from Debian's
# source packages, built for the target in build-firmware/.
firmware:
	./firmware/qemu-mps2/build.sh . build-firmware

bench-firmware: all firmware
	./bench/firmware/firmware.sh . build-firmware build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz build-firmware

# Installing: programs, libraries, headers, pkg-config files, Python module, man pages.
PREFIX ?= /usr/local
.PHONY: install deb
install: all
	cmake --install build --prefix $(PREFIX)

# Debian packages (libkiln0, libkiln-dev, kiln-tools, kiln-factory-service, python3-kiln-fcu)
# into build/packages/.
deb: all
	cd build && cpack -G DEB -B packages
