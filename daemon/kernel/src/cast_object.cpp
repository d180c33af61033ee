// The syslens_bpf_cast object's bytes, in a translation unit of their own:
// its skeleton header embeds the whole object. bpf/CMakeLists.txt says why
// there are two objects.
#include <cstddef>

#include "bpf_internal.h"
#include "syslens_bpf_cast.skel.h"

namespace syslens::bpf_detail {

const void* cast_object_bytes(std::size_t* size) { return syslens_bpf_cast__elf_bytes(size); }

}  // namespace syslens::bpf_detail
