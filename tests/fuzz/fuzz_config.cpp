// The config file and the command line: any input is applied or rejected
// with a FatalError (a one-line message and an exit code), nothing else.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syslens/config.h"
#include "syslens/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  syslens::Config cfg;
  try {
    syslens::apply_config_yaml(cfg, text, "fuzz.yaml");
  } catch (const syslens::FatalError& e) {
    if (e.exit_code() != syslens::kExitConfig || std::string_view(e.what()).find('\n') != std::string_view::npos) {
      __builtin_trap();
    }
  }
  // The same bytes as a web config (TLS, auth).
  try {
    syslens::parse_web_config(text, "fuzz-web.yml");
  } catch (const syslens::FatalError& e) {
    if (e.exit_code() != syslens::kExitConfig) __builtin_trap();
  }
  // The same bytes as argv: NUL-separated arguments.
  std::vector<std::string> args = {"syslensd"};
  std::string cur;
  for (char c : text) {
    if (c == '\0') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) args.push_back(cur);
  if (args.size() > 64) return 0;
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    syslens::parse_flags(static_cast<int>(argv.size()), argv.data());
  } catch (const syslens::FatalError& e) {
    if (e.exit_code() != syslens::kExitUsage && e.exit_code() != syslens::kExitConfig) __builtin_trap();
  }
  return 0;
}
