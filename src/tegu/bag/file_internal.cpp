#include "tegu/bag/file_internal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tegu/common/error_type.hpp"

namespace tegu::bag::internal {

namespace {

// An OSError as Python words it: "[Errno 2] No such file or directory: '/x'", typed by errno
// as Python's OSError subclasses are.
Status ErrnoStatus(int err, const std::string& path) {
  const char* type = "OSError";
  switch (err) {
    case ENOENT: type = "FileNotFoundError"; break;
    case EACCES:
    case EPERM: type = "PermissionError"; break;
    case EISDIR: type = "IsADirectoryError"; break;
    case ENOTDIR: type = "NotADirectoryError"; break;
    default: break;
  }
  return WithErrorType(Status::IOError("[Errno " + std::to_string(err) + "] " +
                                       std::strerror(err) + ": " + PyRepr(path)),
                       type);
}

}  // namespace

std::string PyQuote(std::string_view s, char quote, bool escape_high_bytes) {
  std::string out(1, quote);
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f || (escape_high_bytes && u > 0x7f)) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

std::string PyRepr(std::string_view s) {
  // Python quotes a str with ' unless it holds a ' and no ".
  const bool double_quoted =
      s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  // Bytes >= 0x80 stay as they are: in a path they are UTF-8, which a str's repr() keeps.
  return PyQuote(s, double_quoted ? '"' : '\'', /*escape_high_bytes=*/false);
}

Result<File> File::Open(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, path);
  File file(fd, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, path);
  // Linux opens a directory read-only without complaint; Python's open() refuses it.
  if (S_ISDIR(st.st_mode)) return ErrnoStatus(EISDIR, path);
  file.size_ = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : 0;
  return file;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

Result<size_t> File::ReadAt(int64_t pos, uint8_t* out, size_t n) const {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(pos) +
                                                               static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, path_);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace tegu::bag::internal
