#include "syslens/kernel/cgroup_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

namespace syslens {
namespace fs = std::filesystem;

namespace {
constexpr int kFileIdKernfs = 0xfe;  // include/linux/exportfs.h FILEID_KERNFS
}

CgroupPaths::CgroupPaths(std::string mount_point, std::string fs_root, std::size_t capacity, bool use_handles)
    : mount_point_(std::move(mount_point)), fs_root_(std::move(fs_root)), use_handles_(use_handles), cache_(capacity) {
  while (mount_point_.size() > 1 && mount_point_.back() == '/') mount_point_.pop_back();
  if (fs_root_.empty() || fs_root_ == "/") fs_root_.clear();
  mount_fd_ = ::open(mount_point_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

CgroupPaths::~CgroupPaths() {
  if (mount_fd_ >= 0) ::close(mount_fd_);
}

std::string CgroupPaths::relative(const std::string& abs) const {
  std::string rel;
  if (abs == mount_point_) {
    rel = "/";
  } else if (abs.size() > mount_point_.size() && abs.compare(0, mount_point_.size(), mount_point_) == 0 &&
             abs[mount_point_.size()] == '/') {
    rel = abs.substr(mount_point_.size());
  } else if (mount_point_ == "/") {
    rel = abs;
  } else {
    return {};
  }
  if (fs_root_.empty()) return rel;
  return rel == "/" ? fs_root_ : fs_root_ + rel;
}

// The cgroup's directory by id: kernfs file handles carry the id itself.
int CgroupPaths::open_by_id(std::uint64_t id) const {
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(std::uint64_t)];
  auto* fh = reinterpret_cast<file_handle*>(buf);
  fh->handle_bytes = sizeof(std::uint64_t);
  fh->handle_type = kFileIdKernfs;
  std::memcpy(fh->f_handle, &id, sizeof(id));
  return ::open_by_handle_at(mount_fd_, fh, O_RDONLY | O_CLOEXEC | O_PATH);
}

std::optional<std::string> CgroupPaths::by_handle(std::uint64_t id) {
  if (!use_handles_ || mount_fd_ < 0) return std::nullopt;
  int fd = open_by_id(id);
  if (fd < 0) {
    if (errno == ESTALE || errno == ENOENT) {
      // The cgroup is gone; an empty string marks "known not to exist".
      return std::string();
    }
    // EPERM without CAP_DAC_READ_SEARCH, EOPNOTSUPP on old kernels: walk.
    use_handles_ = false;
    return std::nullopt;
  }
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char target[4096];
  ssize_t n = ::readlink(link, target, sizeof(target) - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  target[n] = '\0';
  auto rel = relative(target);
  if (rel.empty()) return std::nullopt;
  return rel;
}

void CgroupPaths::walk() {
  ++stats_.walks;
  walk_allowed_ = false;
  std::error_code ec;
  auto index = [&](const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) remember(static_cast<std::uint64_t>(st.st_ino), relative(p.string()));
  };
  index(mount_point_);
  for (auto it = fs::recursive_directory_iterator(mount_point_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) index(it->path());
  }
}

std::optional<std::string> CgroupPaths::path_of(std::uint64_t id) {
  if (auto* hit = cache_.get(id)) {
    if (!*hit || (*hit)->empty()) return std::nullopt;
    return **hit;
  }
  ++stats_.lookups;
  auto p = by_handle(id);
  if (!p && walk_allowed_) {
    walk();
    if (auto* hit = cache_.get(id)) p = *hit;
  }
  if (!p || p->empty()) {
    ++stats_.unresolved;
    // Remember only what the kernel said is gone; a walk miss may be a
    // cgroup created after the walk, so it is retried after refresh().
    if (p) remember(id, std::string());
    return std::nullopt;
  }
  remember(id, *p);
  return p;
}

void CgroupPaths::remember(std::uint64_t id, std::string path) {
  cache_.put(id, std::move(path));
  if (cache_.evictions() > 0 && !warned_full_) {
    warned_full_ = true;
    spdlog::warn(
        "the cgroup path cache is full ({} entries): the least recently used paths are evicted and looked up "
        "again when needed (syslens_cgroup_cache_evictions_total); raise cgroup.cache_size if that grows",
        cache_.capacity());
  }
}

bool CgroupPaths::exists(std::uint64_t id) {
  if (use_handles_ && mount_fd_ >= 0) {
    int fd = open_by_id(id);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (errno == ESTALE || errno == ENOENT) return false;
  }
  auto p = path_of(id);
  if (!p) return false;
  struct stat st {};
  const std::string abs = *p == "/" ? mount_point_ : mount_point_ + p->substr(fs_root_.size());
  return ::stat(abs.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == id;
}

std::optional<std::uint64_t> CgroupPaths::id_of(const std::string& path) const {
  if (path.empty() || path.front() != '/') return std::nullopt;
  if (!fs_root_.empty() && path.compare(0, fs_root_.size(), fs_root_) != 0) return std::nullopt;
  const std::string rel = path.substr(fs_root_.size());
  struct stat st {};
  if (::stat((mount_point_ + (rel == "/" ? "" : rel)).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_ino);
}

CgroupPathStats CgroupPaths::stats() const {
  CgroupPathStats s = stats_;
  s.entries = cache_.size();
  s.capacity = cache_.capacity();
  s.evictions = cache_.evictions();
  return s;
}

}  // namespace syslens
