// Reading and writing the files a user names, the one way every command does it: inputs are
// opened without blocking (a FIFO never hangs the program) and must be regular files; outputs
// replace a regular file atomically (temporary file beside it, then rename), and are written in
// place when the target is a character device or a FIFO with a reader (/dev/null, a pipe), so a
// device node is never replaced by a file. Every failure is an Error naming the path, what it
// is for and the operating system's reason.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>

namespace llmt {

// "is a directory", "is a FIFO", "is a character device"...: what a path is, when not a regular file.
std::string describe_file_kind(const std::filesystem::path& path);

// The whole content of the regular file `path`; `what` names it in errors ("--weights index").
// Throws Error when it is missing, not a regular file, unreadable, or above `max_bytes`. With
// `allow_pipe`, an anonymous pipe or FIFO is read too (`compare <(...)`); one without a writer
// reads as empty instead of blocking.
std::string read_input_file(const std::filesystem::path& path, const std::string& what,
                            std::size_t max_bytes = std::size_t{1} << 30, bool allow_pipe = false);

// A file descriptor of the regular file `path` opened read-only, or an Error naming `what`.
// The caller closes it.
int open_regular_file(const std::filesystem::path& path, const std::string& what);

// Checks, before any work, that `path` can be written by write_output_file: not a directory, its
// directory exists (and is one), a FIFO has a reader. Throws ConfigError naming `option`.
void check_output_target(const std::string& option, const std::string& path);

// Writes `path` with what `fill` streams (binary). A regular or absent target is replaced
// atomically (PATH.tmp, then rename: a crash leaves the old file or the new one, never half of
// one); a character device or a FIFO is written in place. Throws Error naming `what`, the path
// and the reason (disk full, permission denied...); the temporary file never stays behind.
void write_output_file(const std::string& path, const std::string& what, const std::function<void(std::ostream&)>& fill);
void write_output_file(const std::string& path, const std::string& what, const std::string& content);

// A file written as it goes (the CSV rows): a regular file is truncated and written in place; a
// character device or a FIFO with a reader is written to. Every failure is an Error naming
// `what`, the path and the reason.
class OutputStream {
 public:
  OutputStream(const std::string& path, const std::string& what);
  ~OutputStream();
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;
  void write(const std::string& text);

 private:
  std::string path_, what_;
  int fd_ = -1;
};

// Whether the path is replaced by a rename (absent or a regular file) rather than written in place.
bool replaced_by_rename(const std::string& path);

// Whether two paths name the same file: the same inode when both exist, else the same
// normalized absolute path (./x, x, a symlink to x, dir/../x).
bool same_file(const std::string& a, const std::string& b);

// "No space left on device" and the like for the current errno.
std::string os_reason(int error);

}  // namespace llmt
