// Failpoints: named places where a test stops syslensd dead, so that it can
// kill it exactly there (kill -9 in the middle of a reclaim, of a scrape).
// Off unless the environment variable SYSLENS_FAILPOINT names one; at that
// place syslensd then logs "failpoint NAME reached: stopping" and stops
// itself (SIGSTOP), all threads at once, as a kill would find it. The names
// are listed in tests/README.md. A test hook, not a setting: nothing in the
// configuration turns it on.
#pragma once

#include <string_view>

namespace syslens {

void failpoint(std::string_view name);

}  // namespace syslens
