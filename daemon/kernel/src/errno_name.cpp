#include "syslens/kernel/errno_name.h"

#include <cstring>
#include <string>

namespace syslens {
namespace {

// Kernel-internal error codes (include/linux/errno.h) that userspace headers
// do not name but that sys_exit can observe, e.g. ERESTARTSYS when a signal
// interrupts a call that is then restarted.
const char* kernel_internal_errno(int err) {
  switch (err) {
    case 512:
      return "ERESTARTSYS";
    case 513:
      return "ERESTARTNOINTR";
    case 514:
      return "ERESTARTNOHAND";
    case 515:
      return "ENOIOCTLCMD";
    case 516:
      return "ERESTART_RESTARTBLOCK";
    case 517:
      return "EPROBE_DEFER";
    case 518:
      return "EOPENSTALE";
    case 519:
      return "ENOPARAM";
    case 521:
      return "EBADHANDLE";
    case 522:
      return "ENOTSYNC";
    case 523:
      return "EBADCOOKIE";
    case 524:
      return "ENOTSUPP";
    case 525:
      return "ETOOSMALL";
    case 526:
      return "ESERVERFAULT";
    case 527:
      return "EBADTYPE";
    case 528:
      return "EJUKEBOX";
    case 529:
      return "EIOCBQUEUED";
    case 530:
      return "ERECALLCONFLICT";
    case 531:
      return "ENOGRACE";
    default:
      return nullptr;
  }
}

}  // namespace

std::string errno_name(int err) {
  if (const char* k = kernel_internal_errno(err)) return k;
  // glibc >= 2.32. EWOULDBLOCK == EAGAIN and EDEADLOCK == EDEADLK: glibc
  // answers with the first, canonical name.
  if (const char* n = strerrorname_np(err)) return n;
  // Appended, not "E" + to_string(): GCC 12 at -O3 warns -Wrestrict on the
  // operator+ form (a false positive, GCC bug 105329).
  std::string name = "E";
  name += std::to_string(err);
  return name;
}

}  // namespace syslens
