# include()d by the syscall table generators (GenSyscallTable.cmake,
# GenSeccompTable.cmake): writes OUT, the table TABLE with the entries in
# body ("    {nr, \"name\"},\n" each) after the lines in head (a comment
# saying where it came from, then what the entries need), and leaves the
# file untouched when nothing changed (no rebuild).
function(write_syscall_table head body)
  file(WRITE ${OUT}.tmp
"${head}
#include \"syslens/kernel/syscall_table.h\"

namespace syslens::generated {
extern const SyscallEntry ${TABLE}[];
extern const std::size_t ${TABLE}_size;
const SyscallEntry ${TABLE}[] = {
${body}};
const std::size_t ${TABLE}_size = sizeof(${TABLE}) / sizeof(${TABLE}[0]);
}  // namespace syslens::generated
")
  file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
  file(REMOVE ${OUT}.tmp)
endfunction()
