# Cross-building syslens for arm64 on an x86_64 Debian host:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/arm64-toolchain.cmake \
#         -DSYSLENS_SYSROOT=<dir from scripts/arm64-sysroot>
# (what `make package ARCH=arm64` does). The compilers are Debian's cross
# toolchain (g++-aarch64-linux-gnu, its own libc and libstdc++); every other
# library, header and CMake/pkg-config file comes from the sysroot, Debian's
# arm64 -dev packages unpacked by mmdebstrap. Build tools (protoc, the gRPC
# plugin, bpftool, clang for BPF) are the host's.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Toolchain files are read again for every try_compile: keep the sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SYSLENS_SYSROOT)
if(NOT SYSLENS_SYSROOT)
  message(FATAL_ERROR "arm64 cross build: set SYSLENS_SYSROOT to a sysroot from scripts/arm64-sysroot")
endif()
if(NOT EXISTS ${SYSLENS_SYSROOT}/usr/lib/aarch64-linux-gnu)
  message(FATAL_ERROR "arm64 cross build: ${SYSLENS_SYSROOT} is not an arm64 sysroot (run scripts/arm64-sysroot)")
endif()
set(CMAKE_SYSROOT ${SYSLENS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH ${SYSLENS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(ENV{PKG_CONFIG_SYSROOT_DIR} ${SYSLENS_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR} ${SYSLENS_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${SYSLENS_SYSROOT}/usr/share/pkgconfig)

# Programs built for arm64 run here under QEMU's user-mode emulation
# (qemu-user-static), with the sysroot's libraries: GoogleTest lists the unit
# tests by running them, and `ctest -L unit` runs them, on this x86_64 host.
find_program(SYSLENS_QEMU_AARCH64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${SYSLENS_QEMU_AARCH64} -L ${SYSLENS_SYSROOT})
