#include <grpcpp/grpcpp.h>

#include <stdexcept>
#include <unistd.h>

#include "cri_runtime_v1.grpc.pb.h"
#include "syslens/runtimes/clients.h"
#include "syslens/workloads/runtime_parse.h"

namespace syslens {

namespace {

std::vector<std::pair<std::string, std::string>> labels_of(const google::protobuf::Map<std::string, std::string>& m) {
  return {m.begin(), m.end()};
}

// containerd and CRI-O through the CRI RuntimeService: pod name, namespace
// and UID from the sandbox metadata, container names from the container
// metadata, and the io.kubernetes.* labels kubelet sets, which win.
class CriSource final : public MetadataSource {
 public:
  explicit CriSource(std::string socket)
      : socket_(std::move(socket)),
        stub_(runtime::v1::RuntimeService::NewStub(
            grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials()))) {}

  std::string name() const override { return "cri:" + socket_; }

  std::vector<std::pair<std::string, ContainerMeta>> list(std::chrono::milliseconds timeout) override {
    if (::access(socket_.c_str(), F_OK) != 0) throw RuntimeAbsent("no socket at " + socket_);
    runtime::v1::ListPodSandboxResponse pods;
    call("ListPodSandbox", timeout, [&](grpc::ClientContext* ctx) {
      return stub_->ListPodSandbox(ctx, runtime::v1::ListPodSandboxRequest(), &pods);
    });
    runtime::v1::ListContainersResponse containers;
    call("ListContainers", timeout, [&](grpc::ClientContext* ctx) {
      return stub_->ListContainers(ctx, runtime::v1::ListContainersRequest(), &containers);
    });
    std::unordered_map<std::string, ContainerMeta> sandbox;
    std::vector<std::pair<std::string, ContainerMeta>> out;
    // Entries without an id cannot be matched to a cgroup: skip them, as the
    // Docker answer parser does.
    for (const auto& p : pods.items()) {
      if (p.id().empty()) continue;
      ContainerMeta m;
      m.pod = p.metadata().name();
      m.pod_namespace = p.metadata().namespace_();
      m.pod_uid = p.metadata().uid();
      apply_kubernetes_labels(m, labels_of(p.labels()));
      m.sandbox = true;
      sandbox[p.id()] = m;
      out.emplace_back(p.id(), m);
    }
    for (const auto& c : containers.containers()) {
      if (c.id().empty()) continue;
      ContainerMeta m;
      if (auto it = sandbox.find(c.pod_sandbox_id()); it != sandbox.end()) m = it->second;
      m.sandbox = false;
      m.name = c.metadata().name();
      m.image = !c.image().user_specified_image().empty() ? c.image().user_specified_image() : c.image().image();
      apply_kubernetes_labels(m, labels_of(c.labels()));
      out.emplace_back(c.id(), std::move(m));
    }
    return out;
  }

 private:
  template <typename F>
  void call(const char* what, std::chrono::milliseconds timeout, F&& f) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    grpc::Status st = f(&ctx);
    if (!st.ok()) {
      throw std::runtime_error(std::string(what) + " on " + socket_ + ": " + st.error_message());
    }
  }

  std::string socket_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
};

}  // namespace

std::unique_ptr<MetadataSource> make_cri_source(std::string socket_path) {
  return std::make_unique<CriSource>(std::move(socket_path));
}

}  // namespace syslens
