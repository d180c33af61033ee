# bpf_object(<name> <source.bpf.c> [INCLUDES dir...] [DEFINES NAME[=VALUE]...])
#
# Compiles <source.bpf.c> with clang for the BPF target (CO-RE, with BTF) and
# generates <name>.skel.h with bpftool in the build tree. Defines an INTERFACE
# library <name>_skel that carries the include path of the skeleton and of
# libbpf, so `target_link_libraries(x PRIVATE <name>_skel)` is all a user needs.
# Header dependencies come from clang's depfile: editing any included header
# rebuilds the object and the skeleton.
include_guard(GLOBAL)

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

execute_process(COMMAND ${BPF_CLANG} --version OUTPUT_VARIABLE _clang_ver ERROR_QUIET)
if(NOT _clang_ver MATCHES "version ([0-9]+)")
  message(FATAL_ERROR "cannot determine the version of ${BPF_CLANG}")
endif()
if(CMAKE_MATCH_1 LESS 11)
  message(FATAL_ERROR "${BPF_CLANG} is version ${CMAKE_MATCH_1}; BPF CO-RE needs clang 11 or newer")
endif()
execute_process(COMMAND ${BPFTOOL} gen help RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_VARIABLE _gen_help)
if(NOT _gen_help MATCHES "skeleton")
  message(FATAL_ERROR "${BPFTOOL} cannot generate skeletons ('bpftool gen skeleton'); install Debian's bpftool")
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}: syslens supports x86_64 and arm64")
endif()

# The uapi <asm/types.h> lives in the multiarch directory on Debian: the
# target's, so from the sysroot when cross-building (cmake/arm64-toolchain.cmake).
execute_process(COMMAND ${CMAKE_C_COMPILER} -dumpmachine OUTPUT_VARIABLE _triplet OUTPUT_STRIP_TRAILING_WHITESPACE)
set(BPF_SYS_INCLUDES ${CMAKE_SYSROOT}/usr/include/${_triplet})

function(bpf_object name src)
  cmake_parse_arguments(ARG "" "" "INCLUDES;DEFINES" ${ARGN})
  get_filename_component(_src "${src}" ABSOLUTE)
  set(_out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(_obj ${_out_dir}/${name}.bpf.o)
  set(_skel ${_out_dir}/${name}.skel.h)
  set(_dep ${_out_dir}/${name}.bpf.d)
  set(_incs)
  foreach(_d IN LISTS ARG_INCLUDES BPF_SYS_INCLUDES)
    list(APPEND _incs -I${_d})
  endforeach()
  foreach(_d IN LISTS ARG_DEFINES)
    list(APPEND _incs -D${_d})
  endforeach()
  set(_werror)
  if(SYSLENS_WERROR)
    set(_werror -Werror)
  endif()
  file(MAKE_DIRECTORY ${_out_dir})
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall ${_werror} -mcpu=v3 ${_incs} -MD -MF ${_dep} -c ${_src} -o ${_obj}
    DEPENDS ${_src}
    DEPFILE ${_dep}
    COMMENT "BPF ${name}: clang ${src}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${BPFTOOL} gen skeleton ${_obj} name ${name} > ${_skel}
    DEPENDS ${_obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${_out_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
