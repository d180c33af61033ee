#pragma once

namespace syslens {

// syslensd's whole life: flags, config, checks, listener, BPF, serve until
// SIGTERM/SIGINT. Returns the exit code; prints one line on fatal errors.
int run_daemon(int argc, const char* const* argv);

}  // namespace syslens
