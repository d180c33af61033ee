// The runtimes' own APIs as metadata sources: Docker Engine API over its
// unix socket (Beast), and the CRI RuntimeService over gRPC (containerd,
// CRI-O).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "syslens/workloads/metadata.h"

namespace syslens {

// GET over a unix socket; throws std::runtime_error on any failure,
// including a non-2xx status. The response body is limited to 16 MiB.
std::string unix_http_get(const std::string& socket_path, const std::string& target, std::chrono::milliseconds timeout);

std::unique_ptr<MetadataSource> make_docker_source(std::string socket_path);
std::unique_ptr<MetadataSource> make_cri_source(std::string socket_path);

}  // namespace syslens
