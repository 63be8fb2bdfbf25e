#include "model/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <streambuf>
#include <vector>

#include <fmt/format.h>

#include "model/error.hpp"

namespace llmt {
namespace fs = std::filesystem;

std::string os_reason(int error) { return std::strerror(error); }

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO";
  if (S_ISCHR(mode)) return "is a character device";
  if (S_ISBLK(mode)) return "is a block device";
  if (S_ISSOCK(mode)) return "is a socket";
  if (S_ISREG(mode)) return "is a regular file";
  return "is not a regular file";
}

// A stream buffer over a file descriptor that keeps the errno of the first failed write, so the
// error can say "No space left on device" instead of "write failed".
class FdBuffer final : public std::streambuf {
 public:
  explicit FdBuffer(int fd) : fd_(fd), buffer_(std::size_t{1} << 20) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  int error() const { return error_; }
  // Writes what is buffered; false (and error()) when the descriptor refused it.
  bool drain() {
    const char* p = pbase();
    std::size_t left = static_cast<std::size_t>(pptr() - pbase());
    while (left > 0 && error_ == 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = n < 0 ? errno : EIO;
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return error_ == 0;
  }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

// Streams `fill` into `fd`; the errno of a failed write, or 0.
int fill_descriptor(int fd, const std::function<void(std::ostream&)>& fill) {
  FdBuffer buffer(fd);
  std::ostream out(&buffer);
  fill(out);
  out.flush();
  buffer.drain();
  return buffer.error() ? buffer.error() : (out ? 0 : EIO);
}

// A symlink is followed to the file it names, so that the link stays a link.
std::string resolved(const std::string& path) {
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    // A dangling link is written through, creating its target, as the shell's > does.
    const fs::path target = fs::weakly_canonical(path, ec);
    if (!ec) return target.string();
  }
  return path;
}

}  // namespace

std::string describe_file_kind(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return os_reason(errno);
  return kind_of(st.st_mode);
}

int open_regular_file(const fs::path& path, const std::string& what) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{} {}: cannot open: {}", what, path.string(), os_reason(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string kind = kind_of(st.st_mode);
    ::close(fd);
    throw Error(fmt::format("{} {}: {}, not a regular file", what, path.string(), kind));
  }
  return fd;
}

std::string read_input_file(const fs::path& path, const std::string& what, std::size_t max_bytes, bool allow_pipe) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{} {}: cannot open: {}", what, path.string(), os_reason(errno)));
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const bool pipe = stat_ok && S_ISFIFO(st.st_mode) && allow_pipe;
  if (!stat_ok || !(S_ISREG(st.st_mode) || pipe)) {
    const std::string kind = kind_of(st.st_mode);
    ::close(fd);
    throw Error(fmt::format("{} {}: {}, not a regular file", what, path.string(), kind));
  }
  // A pipe with a writer is read to its end; one without reads as empty at once.
  if (pipe) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string content;
  std::vector<char> chunk(std::size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw Error(fmt::format("{} {}: cannot read: {}", what, path.string(), os_reason(error)));
    }
    if (n == 0) break;
    content.append(chunk.data(), static_cast<std::size_t>(n));
    if (content.size() > max_bytes) {
      ::close(fd);
      throw Error(fmt::format("{} {}: larger than {} bytes", what, path.string(), max_bytes));
    }
  }
  ::close(fd);
  return content;
}

bool replaced_by_rename(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return true;
  return S_ISREG(st.st_mode);
}

void check_output_target(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  const fs::path p(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw ConfigError(fmt::format("{} {}: is a directory; give a file name", option, path));
    if (S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
      throw ConfigError(fmt::format("{} {}: {}; refusing to write over it", option, path, kind_of(st.st_mode)));
    if (!S_ISREG(st.st_mode)) return;  // a character device or a FIFO: written in place
    // The rename would replace it anyway; a write-protected file is one its owner means to keep.
    if (::access(path.c_str(), W_OK) != 0)
      throw ConfigError(fmt::format("{} {}: cannot write: {}", option, path, os_reason(errno)));
  } else if (errno != ENOENT) {
    throw ConfigError(fmt::format("{} {}: {}", option, path, os_reason(errno)));
  }
  if (p.filename().empty()) throw ConfigError(fmt::format("{} {}: not a file name", option, path));
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  struct stat dir {};
  if (::stat(parent.c_str(), &dir) != 0) {
    if (errno == ENOENT)
      throw ConfigError(fmt::format("{} {}: directory {} does not exist", option, path, parent.string()));
    throw ConfigError(fmt::format("{} {}: directory {}: {}", option, path, parent.string(), os_reason(errno)));
  }
  if (!S_ISDIR(dir.st_mode))
    throw ConfigError(fmt::format("{} {}: {} {}, not a directory", option, path, parent.string(), kind_of(dir.st_mode)));
  // The rename needs the directory writable (root passes this check except on a read-only mount).
  if (::access(parent.c_str(), W_OK) != 0)
    throw ConfigError(fmt::format("{} {}: directory {} is not writable: {}", option, path, parent.string(), os_reason(errno)));
  // What access() cannot tell (sysfs, some network mounts): create the temporary file once and
  // remove it. O_EXCL: a file already there under that name is left alone.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
  if (fd < 0 && errno != EEXIST)
    throw ConfigError(fmt::format("{} {}: cannot create {}: {}", option, path, tmp, os_reason(errno)));
  if (fd >= 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
  }
}

void write_output_file(const std::string& given, const std::string& what,
                       const std::function<void(std::ostream&)>& fill) {
  const std::string path = resolved(given);
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) throw Error(fmt::format("{} {}: is a directory", what, given));
  if (exists && !S_ISREG(st.st_mode)) {
    if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
      throw Error(fmt::format("{} {}: {}; refusing to write over it", what, given, kind_of(st.st_mode)));
    // In place: a device node or a FIFO stays what it is. O_NONBLOCK: a FIFO without a reader
    // fails at once (ENXIO) instead of waiting.
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      throw Error(fmt::format("{} {}: cannot open: {}", what, given,
                              errno == ENXIO ? std::string("a FIFO with no reader") : os_reason(errno)));
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int error = 0;
    try {
      error = fill_descriptor(fd, fill);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    if (error) throw Error(fmt::format("{} {}: cannot write: {}", what, given, os_reason(error)));
    return;
  }
  const std::string tmp = path + ".tmp";
  // O_NOFOLLOW, O_NONBLOCK: a link or FIFO planted at the temporary name is refused, not followed.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(fmt::format("{} {}: cannot create {}: {}", what, given, tmp, os_reason(errno)));
  struct stat tst {};
  if (::fstat(fd, &tst) != 0 || !S_ISREG(tst.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{} {}: {} {}; remove it", what, given, tmp, kind_of(tst.st_mode)));
  }
  int error = 0;
  try {
    error = fill_descriptor(fd, fill);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (!error && ::fsync(fd) != 0) error = errno;  // some filesystems report a full disk only here
  if (::close(fd) != 0 && !error) error = errno;
  if (!error && ::rename(tmp.c_str(), path.c_str()) != 0) error = errno;
  if (error) {
    ::unlink(tmp.c_str());
    throw Error(fmt::format("{} {}: cannot write: {}", what, given, os_reason(error)));
  }
}

OutputStream::OutputStream(const std::string& path, const std::string& what) : path_(path), what_(what) {
  struct stat st {};
  const bool special = ::stat(path.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode));
  fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | (special ? 0 : O_CREAT | O_TRUNC), 0666);
  if (fd_ < 0)
    throw Error(fmt::format("{} {}: cannot open: {}", what, path,
                            errno == ENXIO ? std::string("a FIFO with no reader") : os_reason(errno)));
  struct stat opened {};
  if (::fstat(fd_, &opened) != 0 || !(S_ISREG(opened.st_mode) || S_ISCHR(opened.st_mode) || S_ISFIFO(opened.st_mode))) {
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("{} {}: {}; refusing to write to it", what, path, kind_of(opened.st_mode)));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

OutputStream::~OutputStream() {
  if (fd_ >= 0) ::close(fd_);
}

void OutputStream::write(const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(fmt::format("{} {}: cannot write: {}", what_, path_, os_reason(n < 0 ? errno : EIO)));
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void write_output_file(const std::string& path, const std::string& what, const std::string& content) {
  write_output_file(path, what, [&content](std::ostream& out) { out << content; });
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ec1, ec2;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ec1), ec1);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, ec2), ec2);
  if (ec1 || ec2) return fs::absolute(a, ec1).lexically_normal() == fs::absolute(b, ec2).lexically_normal();
  return ca == cb;
}

}  // namespace llmt
