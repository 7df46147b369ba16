#include "tegu/bag/text_io.hpp"

#include <bzlib.h>
#include <fcntl.h>
#include <lzma.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "tegu/bag/kernels.hpp"
#include "tegu/common/error_type.hpp"
#include "tegu/native.hpp"

namespace tegu::bag {

namespace {

// fsspec's seek_delimiter reads 64 KiB at a time; lines are short, so one read almost always
// finds the delimiter that ends a block.
constexpr size_t kSearchChunk = size_t{1} << 16;
// Compressed input is streamed through the decoder in chunks of this size.
constexpr size_t kInputChunk = size_t{1} << 20;

// ---- messages ------------------------------------------------------------------------------

// Python's repr() of a str, for paths in messages (as Python's OSError prints them).
std::string PyRepr(std::string_view s) {
  const bool double_quoted =
      s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char quote = double_quoted ? '"' : '\'';
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
    } else if (u < 0x20 || u == 0x7f) {
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

// Python's repr() of bytes (for gzip's "Not a gzipped file (b'..')").
std::string PyBytesRepr(std::string_view s) {
  std::string out = "b'";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out + "'";
}

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

std::string FileSuffix(const std::string& path) { return " (file " + PyRepr(path) + ")"; }

// ---- bytes ---------------------------------------------------------------------------------

// A growable byte array that, unlike std::string, leaves the bytes it is about to overwrite
// uninitialised (a 128 MiB block would otherwise be zeroed only to be read over) and grows with
// realloc, which can extend a large allocation in place. Released as a Buffer without a copy.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void Reserve(size_t n) {
    if (n <= capacity_) return;
    void* grown = std::realloc(data_, n);
    if (grown == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(grown);
    capacity_ = n;
  }
  // Makes room for at least `n` more bytes, growing geometrically.
  void ReserveMore(size_t n) {
    if (capacity_ - size_ >= n) return;
    Reserve(std::max(size_ + n, capacity_ * 2));
  }
  // Growth leaves the new bytes uninitialised.
  void Resize(size_t n) {
    Reserve(n);
    size_ = n;
  }
  void Append(const void* bytes, size_t n) {
    ReserveMore(n);
    std::memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  uint8_t* end() { return data_ + size_; }
  Buffer Release() && {
    // Give back the slack of geometric growth: the Buffer may live long. Shrinking in place
    // (or by remapping, for a large block) copies nothing.
    if (capacity_ - size_ > capacity_ / 8 && size_ > 0) {
      if (void* shrunk = std::realloc(data_, size_)) {
        data_ = static_cast<uint8_t*>(shrunk);
        capacity_ = size_;
      }
    }
    std::shared_ptr<void> owner(data_, std::free);
    const uint8_t* bytes = data_;
    const size_t size = size_;
    data_ = nullptr;
    size_ = capacity_ = 0;
    return Buffer(std::move(owner), bytes, size);
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class File {
 public:
  static Result<File> Open(const std::string& path) {
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
  File(File&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_) {}
  File& operator=(File&&) = delete;
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads up to `n` bytes at `pos`: fewer only at the end of the file.
  Result<size_t> ReadAt(int64_t pos, uint8_t* out, size_t n) const {
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
  // The file's size when it was opened (0 for what is not a regular file).
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
  int64_t size_ = 0;
};

const uint8_t* Find(const uint8_t* begin, size_t n, std::string_view needle) {
  return static_cast<const uint8_t*>(::memmem(begin, n, needle.data(), needle.size()));
}

// fsspec's seek_delimiter from `pos` (> 0): the position just after the first `delimiter`
// that begins at or after `pos`, or, when there is none, the position where reading stopped
// (the end of the file, or `pos` if that is past it).
Result<int64_t> FindDelimiterEnd(const File& file, int64_t pos, std::string_view delimiter) {
  std::vector<uint8_t> chunk(kSearchChunk + delimiter.size());
  size_t carry = 0;  // bytes kept from the previous read, in case a delimiter straddles reads
  int64_t read_pos = pos;
  while (true) {
    TEGU_ASSIGN_OR_RAISE(size_t got, file.ReadAt(read_pos, chunk.data() + carry, kSearchChunk));
    const size_t avail = carry + got;
    if (const uint8_t* hit = Find(chunk.data(), avail, delimiter)) {
      const int64_t chunk_pos = read_pos - static_cast<int64_t>(carry);
      return chunk_pos + (hit - chunk.data()) + static_cast<int64_t>(delimiter.size());
    }
    read_pos += static_cast<int64_t>(got);
    if (got < kSearchChunk) return read_pos;
    carry = std::min(delimiter.size() - 1, avail);
    std::memmove(chunk.data(), chunk.data() + avail - carry, carry);
  }
}

// Appends the file's bytes from `pos` to its end.
Status ReadToEnd(const File& file, int64_t pos, ByteBuffer* out) {
  // One byte more than expected, so that a short read tells the end without another call.
  size_t chunk = (file.size() > pos ? static_cast<size_t>(file.size() - pos) : 0) + 1;
  while (true) {
    out->ReserveMore(chunk);
    TEGU_ASSIGN_OR_RAISE(size_t got, file.ReadAt(pos, out->end(), chunk));
    out->Resize(out->size() + got);
    if (got < chunk) return Status::OK();
    pos += static_cast<int64_t>(got);  // the file grew since it was opened
    chunk = kSearchChunk;
  }
}

// The uncompressed block: see ReadBlock. `*start_out` is where it begins in the file.
Result<ByteBuffer> ReadPlainBlock(const File& file, int64_t offset, int64_t length,
                                  std::string_view delimiter, int64_t* start_out) {
  int64_t start = offset;
  if (offset > 0 && !delimiter.empty()) {
    TEGU_ASSIGN_OR_RAISE(start, FindDelimiterEnd(file, offset, delimiter));
  }
  *start_out = start;
  ByteBuffer block;
  const int64_t stop = offset + length;  // where the search for the block's end begins
  // A search from the end of the file or past it finds nothing: the block runs to the end.
  if (length < 0 || stop >= file.size()) {
    TEGU_RETURN_NOT_OK(ReadToEnd(file, start, &block));
    return block;
  }
  if (delimiter.empty() || stop == 0) {
    if (stop > start) {
      block.Resize(static_cast<size_t>(stop - start));
      TEGU_ASSIGN_OR_RAISE(size_t got, file.ReadAt(start, block.data(), block.size()));
      block.Resize(got);
    }
    return block;
  }
  if (stop <= start) {
    // A block shorter than its first line: it ends where the next one starts.
    TEGU_ASSIGN_OR_RAISE(int64_t end, FindDelimiterEnd(file, stop, delimiter));
    if (end > start) {
      block.Resize(static_cast<size_t>(end - start));
      TEGU_ASSIGN_OR_RAISE(size_t got, file.ReadAt(start, block.data(), block.size()));
      block.Resize(got);
    }
    return block;
  }
  // One large read up to `stop`, then on in small reads to the end of the first delimiter that
  // begins at or after `stop` (room for the first of them is reserved with the large one).
  const auto head = static_cast<size_t>(stop - start);
  block.Reserve(head + kSearchChunk);
  block.Resize(head);
  TEGU_ASSIGN_OR_RAISE(size_t got, file.ReadAt(start, block.data(), head));
  block.Resize(got);
  if (got < head) return block;  // the file shrank since it was opened
  size_t chunk = kSearchChunk;
  while (true) {
    const size_t old_size = block.size();
    block.ReserveMore(chunk);
    TEGU_ASSIGN_OR_RAISE(size_t more,
                         file.ReadAt(start + static_cast<int64_t>(old_size), block.end(), chunk));
    block.Resize(old_size + more);
    const size_t from = std::max(head, old_size - std::min(old_size, delimiter.size() - 1));
    if (const uint8_t* hit = Find(block.data() + from, block.size() - from, delimiter)) {
      block.Resize(static_cast<size_t>(hit - block.data()) + delimiter.size());
      return block;
    }
    if (more < chunk) return block;  // the end of the file
    chunk = std::min(chunk * 2, size_t{4} << 20);
  }
}

// ---- decompression -------------------------------------------------------------------------

// The compressed file, streamed through a decoder in large chunks.
class Input {
 public:
  explicit Input(const File* file) : file_(file), buffer_(kInputChunk) {}

  const uint8_t* next() const { return buffer_.data() + begin_; }
  size_t avail() const { return end_ - begin_; }
  bool eof() const { return eof_; }
  void Consume(size_t n) { begin_ += n; }
  // Reads more input after what is left; at the end of the file, sets eof().
  Status Refill() {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a decoder wants more
    TEGU_ASSIGN_OR_RAISE(size_t got, file_->ReadAt(pos_, buffer_.data() + end_,
                                                    buffer_.size() - end_));
    pos_ += static_cast<int64_t>(got);
    end_ += got;
    if (got == 0) eof_ = true;
    return Status::OK();
  }
  // Ensures at least `n` bytes are available unless the file ends first.
  Status Want(size_t n) {
    while (avail() < n && !eof_) TEGU_RETURN_NOT_OK(Refill());
    return Status::OK();
  }

 private:
  const File* file_;
  std::vector<uint8_t> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  int64_t pos_ = 0;
  bool eof_ = false;
};

Status Truncated(const std::string& path) {
  // Python's gzip, bz2 and lzma modules raise EOFError with these words.
  return WithErrorType(
      Status::IOError("Compressed file ended before the end-of-stream marker was reached" +
                      FileSuffix(path)),
      "EOFError");
}

Status Corrupt(const std::string& codec, std::string_view what, const std::string& path) {
  return WithErrorType(Status::IOError("Error decompressing " + codec + " data: " +
                                       std::string(what) + FileSuffix(path)),
                       "OSError");
}

// The output buffer's first size: compressed text usually expands three to ten times.
void ReserveOutput(const File& file, ByteBuffer* out) {
  out->Reserve(std::max<size_t>(static_cast<size_t>(file.size()) * 4, kSearchChunk));
}

// Room the decoders are given per call.
constexpr size_t kOutputStep = size_t{1} << 18;

// gzip, as Python's gzip.GzipFile reads it: members one after another, zero bytes allowed
// between and after them, anything else "Not a gzipped file".
Status InflateGzip(const File& file, ByteBuffer* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  struct Closer {
    z_stream* zs;
    ~Closer() { inflateEnd(zs); }
  } closer{&zs};
  Input in(&file);
  ReserveOutput(file, out);
  bool in_member = false;
  int members = 0;
  while (true) {
    if (!in_member) {
      if (members > 0) {  // skip zero padding
        while (true) {
          while (in.avail() > 0 && *in.next() == 0) in.Consume(1);
          if (in.avail() > 0) break;
          if (in.eof()) return Status::OK();
          TEGU_RETURN_NOT_OK(in.Refill());
        }
      }
      TEGU_RETURN_NOT_OK(in.Want(2));
      if (in.avail() == 0) return Status::OK();
      if (in.avail() < 2 || in.next()[0] != 0x1f || in.next()[1] != 0x8b) {
        const std::string_view magic(reinterpret_cast<const char*>(in.next()),
                                     std::min<size_t>(in.avail(), 2));
        return WithErrorType(
            Status::IOError("Not a gzipped file (" + PyBytesRepr(magic) + ")" +
                            FileSuffix(file.path())),
            "OSError");
      }
      inflateReset(&zs);
      in_member = true;
    }
    // With no input left, inflate is still called: it may hold output it had no room for.
    if (in.avail() == 0 && !in.eof()) TEGU_RETURN_NOT_OK(in.Refill());
    out->ReserveMore(kOutputStep);
    const size_t room = out->capacity() - out->size();
    zs.next_in = const_cast<Bytef*>(in.next());
    zs.avail_in = static_cast<uInt>(std::min<size_t>(in.avail(), UINT32_MAX));
    zs.next_out = out->end();
    zs.avail_out = static_cast<uInt>(std::min<size_t>(room, UINT32_MAX));
    const uInt avail_in = zs.avail_in;
    const uInt avail_out = zs.avail_out;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    in.Consume(avail_in - zs.avail_in);
    out->Resize(out->size() + (avail_out - zs.avail_out));
    if (ret == Z_STREAM_END) {
      in_member = false;
      ++members;
    } else if (ret == Z_BUF_ERROR) {
      // No progress: zlib wants more input than is buffered.
      if (in.eof()) return Truncated(file.path());
      TEGU_RETURN_NOT_OK(in.Refill());
    } else if (ret != Z_OK) {
      if (ret == Z_MEM_ERROR) throw std::bad_alloc();
      return Corrupt("gzip", zs.msg != nullptr ? zs.msg : "invalid data", file.path());
    }
  }
}

const char* Bz2Error(int ret) {
  switch (ret) {
    case BZ_DATA_ERROR_MAGIC:
    case BZ_DATA_ERROR: return "Invalid data stream";
    case BZ_MEM_ERROR: return "out of memory";
    default: return "Internal error";
  }
}

// A decoder of concatenated streams (bz2, xz) as Python's bz2 and lzma modules read them:
// after the first stream, data that does not start a valid stream ends the file silently.
// `Codec` has Init(), End() and Step(in, in_n, out, out_n, &consumed, &produced), which
// returns kOk, kStreamEnd, or kError with the library's complaint in `error`.
enum class StepResult : uint8_t { kOk, kStreamEnd, kError };

struct Bz2Codec {
  bz_stream bs{};
  bool live = false;
  const char* error = nullptr;
  static constexpr const char* kName = "bz2";
  void Init() {
    bs = bz_stream{};
    if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) throw std::bad_alloc();
    live = true;
  }
  void End() {
    if (live) BZ2_bzDecompressEnd(&bs);
    live = false;
  }
  StepResult Step(const uint8_t* in, size_t in_n, uint8_t* out, size_t out_n, size_t* consumed,
                  size_t* produced) {
    bs.next_in = const_cast<char*>(reinterpret_cast<const char*>(in));
    bs.avail_in = static_cast<unsigned>(std::min<size_t>(in_n, UINT32_MAX));
    bs.next_out = reinterpret_cast<char*>(out);
    bs.avail_out = static_cast<unsigned>(std::min<size_t>(out_n, UINT32_MAX));
    const unsigned before_in = bs.avail_in;
    const unsigned before_out = bs.avail_out;
    const int ret = BZ2_bzDecompress(&bs);
    *consumed = before_in - bs.avail_in;
    *produced = before_out - bs.avail_out;
    if (ret == BZ_STREAM_END) return StepResult::kStreamEnd;
    if (ret == BZ_OK) return StepResult::kOk;
    if (ret == BZ_MEM_ERROR) throw std::bad_alloc();
    error = Bz2Error(ret);
    return StepResult::kError;
  }
};

const char* LzmaError(lzma_ret ret) {
  // Python's _lzma module words them so.
  switch (ret) {
    case LZMA_MEM_ERROR: return "Memory usage limit was reached";
    case LZMA_MEMLIMIT_ERROR: return "Memory usage limit was reached";
    case LZMA_FORMAT_ERROR: return "Input format not supported by decoder";
    case LZMA_OPTIONS_ERROR: return "Invalid or unsupported options";
    case LZMA_DATA_ERROR: return "Corrupt input data";
    case LZMA_BUF_ERROR: return "Insufficient buffer space";
    case LZMA_UNSUPPORTED_CHECK: return "Unsupported integrity check";
    default: return "Internal error";
  }
}

struct XzCodec {
  lzma_stream ls = LZMA_STREAM_INIT;
  bool live = false;
  const char* error = nullptr;
  static constexpr const char* kName = "xz";
  void Init() {
    ls = LZMA_STREAM_INIT;
    // The auto decoder reads .xz and the legacy .lzma format, as Python's FORMAT_AUTO does.
    if (lzma_auto_decoder(&ls, UINT64_MAX, 0) != LZMA_OK) throw std::bad_alloc();
    live = true;
  }
  void End() {
    if (live) lzma_end(&ls);
    live = false;
  }
  StepResult Step(const uint8_t* in, size_t in_n, uint8_t* out, size_t out_n, size_t* consumed,
                  size_t* produced) {
    ls.next_in = in;
    ls.avail_in = in_n;
    ls.next_out = out;
    ls.avail_out = out_n;
    const lzma_ret ret = lzma_code(&ls, LZMA_RUN);
    *consumed = in_n - ls.avail_in;
    *produced = out_n - ls.avail_out;
    if (ret == LZMA_STREAM_END) return StepResult::kStreamEnd;
    if (ret == LZMA_OK) return StepResult::kOk;
    // LZMA_BUF_ERROR means no progress was possible: treated as wanting more input.
    if (ret == LZMA_BUF_ERROR) return StepResult::kOk;
    error = LzmaError(ret);
    return StepResult::kError;
  }
};

template <class Codec>
Status DecodeStreams(const File& file, ByteBuffer* out) {
  Codec codec;
  struct Ender {
    Codec* c;
    ~Ender() { c->End(); }
  } ender{&codec};
  Input in(&file);
  ReserveOutput(file, out);
  bool in_stream = false;
  int streams = 0;
  bool produced_in_stream = false;
  while (true) {
    if (!in_stream) {
      TEGU_RETURN_NOT_OK(in.Want(1));
      if (in.avail() == 0) return Status::OK();
      codec.End();
      codec.Init();
      in_stream = true;
      produced_in_stream = false;
    }
    if (in.avail() == 0 && !in.eof()) TEGU_RETURN_NOT_OK(in.Refill());
    out->ReserveMore(kOutputStep);
    size_t consumed = 0;
    size_t produced = 0;
    const StepResult r = codec.Step(in.next(), in.avail(), out->end(),
                                    out->capacity() - out->size(), &consumed, &produced);
    in.Consume(consumed);
    out->Resize(out->size() + produced);
    if (produced > 0) produced_in_stream = true;
    if (r == StepResult::kStreamEnd) {
      in_stream = false;
      ++streams;
    } else if (r == StepResult::kError) {
      // Python ignores trailing data that is not a stream (its decompressor raises at once).
      if (streams > 0 && !produced_in_stream) return Status::OK();
      return Corrupt(Codec::kName, codec.error, file.path());
    } else if (consumed == 0 && produced == 0) {
      if (in.eof()) return Truncated(file.path());
      TEGU_RETURN_NOT_OK(in.Refill());
    }
  }
}

// zstd frames one after another (libzstd starts the next frame by itself); skippable frames
// are skipped.
Status DecodeZstd(const File& file, ByteBuffer* out) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (dctx == nullptr) throw std::bad_alloc();
  struct Freer {
    ZSTD_DCtx* d;
    ~Freer() { ZSTD_freeDCtx(d); }
  } freer{dctx};
  Input in(&file);
  ReserveOutput(file, out);
  size_t hint = 0;  // 0: between frames, everything flushed
  while (true) {
    if (in.avail() == 0 && !in.eof()) TEGU_RETURN_NOT_OK(in.Refill());
    if (in.avail() == 0 && hint == 0) return Status::OK();
    out->ReserveMore(kOutputStep);
    ZSTD_inBuffer input{in.next(), in.avail(), 0};
    ZSTD_outBuffer output{out->end(), out->capacity() - out->size(), 0};
    hint = ZSTD_decompressStream(dctx, &output, &input);
    if (ZSTD_isError(hint)) return Corrupt("zstd", ZSTD_getErrorName(hint), file.path());
    in.Consume(input.pos);
    out->Resize(out->size() + output.pos);
    if (input.pos == 0 && output.pos == 0) {  // no progress: it needs input there is not
      if (in.eof()) return Truncated(file.path());
      TEGU_RETURN_NOT_OK(in.Refill());
    }
  }
}

enum class Compression : uint8_t { kNone, kGzip, kBz2, kXz, kZstd };

Result<Compression> ParseCompression(const std::string& name) {
  if (name.empty()) return Compression::kNone;
  if (name == "gzip") return Compression::kGzip;
  if (name == "bz2") return Compression::kBz2;
  if (name == "xz" || name == "lzma") return Compression::kXz;
  if (name == "zstd") return Compression::kZstd;
  return Status::NotImplemented("compression '" + name + "' is not read natively");
}

struct Block {
  Buffer bytes;
  int64_t start = 0;  // where the block starts in the (decompressed) file
  bool decompressed = false;
};

Result<Block> ReadBlockAt(const std::string& path, int64_t offset, int64_t length,
                          Compression compression, std::string_view delimiter) {
  if (offset < 0) {
    return Status::Invalid("read_text: negative block offset " + std::to_string(offset));
  }
  if (length < -1) {
    return Status::Invalid("read_text: negative block length " + std::to_string(length));
  }
  if (compression != Compression::kNone && (offset != 0 || length != -1)) {
    return Status::Invalid("cannot read a block of a compressed file (" + PyRepr(path) +
                           "); compressed files are read whole (blocksize=None)");
  }
  TEGU_ASSIGN_OR_RAISE(File file, File::Open(path));
  Block block;
  block.decompressed = compression != Compression::kNone;
  ByteBuffer bytes;
  switch (compression) {
    case Compression::kNone: {
      TEGU_ASSIGN_OR_RAISE(bytes, ReadPlainBlock(file, offset, length, delimiter, &block.start));
      break;
    }
    case Compression::kGzip: TEGU_RETURN_NOT_OK(InflateGzip(file, &bytes)); break;
    case Compression::kBz2: TEGU_RETURN_NOT_OK(DecodeStreams<Bz2Codec>(file, &bytes)); break;
    case Compression::kXz: TEGU_RETURN_NOT_OK(DecodeStreams<XzCodec>(file, &bytes)); break;
    case Compression::kZstd: TEGU_RETURN_NOT_OK(DecodeZstd(file, &bytes)); break;
  }
  block.bytes = std::move(bytes).Release();
  return block;
}

// ---- decoding ------------------------------------------------------------------------------

enum class Encoding : uint8_t { kUtf8, kAscii, kLatin1, kOther };

// codecs.lookup's normalisation (Python 3.9+): lower case, runs of characters other than
// letters, digits and '.' become one '_', none at either end.
std::string NormalizeEncoding(std::string_view name, bool* ascii) {
  std::string out;
  bool punct = false;
  *ascii = true;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) *ascii = false;
    if (std::isalnum(u) != 0 || c == '.') {
      if (punct && !out.empty()) out += '_';
      out += static_cast<char>(std::tolower(u));
      punct = false;
    } else {
      punct = true;
    }
  }
  return out;
}

Encoding ParseEncoding(std::string_view name) {
  // Python's encodings.aliases for the utf_8, ascii and latin_1 codecs, and the codec modules
  // themselves (iso8859_1 is a charmap codec that decodes exactly as latin_1 does).
  static constexpr std::array<std::string_view, 6> kUtf8Aliases = {
      "u8", "utf", "utf8", "utf8_ucs2", "utf8_ucs4", "cp65001"};
  static constexpr std::array<std::string_view, 12> kAsciiAliases = {
      "646",     "ansi_x3.4_1968", "ansi_x3.4_1986", "ansi_x3_4_1968", "cp367",    "csascii",
      "ibm367",  "iso646_us",      "iso_646.irv_1991", "iso_ir_6",     "us",       "us_ascii"};
  static constexpr std::array<std::string_view, 12> kLatin1Aliases = {
      "8859",       "cp819",           "csisolatin1", "ibm819", "iso8859", "iso8859_1",
      "iso_8859_1", "iso_8859_1_1987", "iso_ir_100",  "l1",     "latin",   "latin1"};
  bool ascii = true;
  const std::string norm = NormalizeEncoding(name, &ascii);
  if (!ascii) return Encoding::kOther;  // left to Python's own lookup
  auto alias = [&](std::string_view n) {
    auto in = [&](const auto& names) {
      return std::find(names.begin(), names.end(), n) != names.end();
    };
    if (in(kUtf8Aliases)) return Encoding::kUtf8;
    if (in(kAsciiAliases)) return Encoding::kAscii;
    if (in(kLatin1Aliases)) return Encoding::kLatin1;
    return Encoding::kOther;
  };
  // encodings.search_function: the alias, then the alias with '.' as '_', then a module.
  Encoding e = alias(norm);
  if (e != Encoding::kOther) return e;
  std::string dotless = norm;
  std::replace(dotless.begin(), dotless.end(), '.', '_');
  e = alias(dotless);
  if (e != Encoding::kOther) return e;
  if (norm == "utf_8") return Encoding::kUtf8;
  if (norm == "ascii") return Encoding::kAscii;
  if (norm == "latin_1" || norm == "iso8859_1") return Encoding::kLatin1;
  return Encoding::kOther;
}

struct DecodeError {
  size_t start = 0;
  size_t end = 0;  // exclusive, as UnicodeDecodeError.end
  const char* reason = "";
};

// Strict UTF-8 validation with Python's rules and error ranges: overlong forms, surrogates and
// code points past U+10FFFF are invalid (Unicode Table 3-7), and the error covers the longest
// valid prefix of the bad sequence ("maximal subpart", as CPython reports it).
bool ValidateUtf8(const uint8_t* p, size_t n, DecodeError* error) {
  size_t i = 0;
  while (i < n) {
    // ASCII runs, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, p + i, sizeof(word));
      if ((word & 0x8080808080808080ULL) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    if (c < 0xC2) {
      *error = {i, i + 1, "invalid start byte"};
      return false;
    } else if (c < 0xE0) {
      need = 1;
    } else if (c < 0xF0) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c < 0xF5) {
      need = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      *error = {i, i + 1, "invalid start byte"};
      return false;
    }
    for (size_t k = 1; k <= need; ++k) {
      if (i + k >= n) {
        *error = {i, i + k, "unexpected end of data"};
        return false;
      }
      const uint8_t b = p[i + k];
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
        *error = {i, i + k, "invalid continuation byte"};
        return false;
      }
    }
    i += need + 1;
  }
  return true;
}

bool ValidateAscii(const uint8_t* p, size_t n, DecodeError* error) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, sizeof(word));
    if ((word & 0x8080808080808080ULL) != 0) break;
  }
  for (; i < n; ++i) {
    if (p[i] >= 0x80) {
      *error = {i, i + 1, "ordinal not in range(128)"};
      return false;
    }
  }
  return true;
}

// "'utf-8' codec can't decode byte 0xff in position 12: invalid start byte (file '/x',
// byte offset 4108)": Python's words, then where in the file.
Status DecodeFailure(const char* codec, const uint8_t* bytes, const DecodeError& e,
                     const std::string& path, const Block& block) {
  std::string msg = std::string("'") + codec + "' codec can't decode ";
  char buf[64];
  if (e.end - e.start == 1) {
    std::snprintf(buf, sizeof(buf), "byte 0x%02x in position %zu", bytes[e.start], e.start);
  } else {
    std::snprintf(buf, sizeof(buf), "bytes in position %zu-%zu", e.start, e.end - 1);
  }
  msg += buf;
  msg += std::string(": ") + e.reason + " (file " + PyRepr(path) + ", " +
         (block.decompressed ? "decompressed byte offset " : "byte offset ") +
         std::to_string(block.start + static_cast<int64_t>(e.start)) + ")";
  return WithErrorType(Status::Invalid(std::move(msg)), "UnicodeDecodeError");
}

// The block's text as UTF-8: the same buffer when it is valid (or ASCII Latin-1), else
// transcoded.
Result<Buffer> Decode(const Block& block, Encoding encoding, const std::string& path) {
  const uint8_t* p = block.bytes.data();
  const size_t n = block.bytes.size();
  DecodeError error;
  switch (encoding) {
    case Encoding::kUtf8:
      if (!ValidateUtf8(p, n, &error)) return DecodeFailure("utf-8", p, error, path, block);
      return block.bytes;
    case Encoding::kAscii:
      if (!ValidateAscii(p, n, &error)) return DecodeFailure("ascii", p, error, path, block);
      return block.bytes;
    case Encoding::kLatin1: {
      size_t high = 0;
      for (size_t i = 0; i < n; ++i) high += p[i] >> 7;
      if (high == 0) return block.bytes;
      ByteBuffer out;
      out.Resize(n + high);
      uint8_t* o = out.data();
      for (size_t i = 0; i < n; ++i) {
        const uint8_t c = p[i];
        if (c < 0x80) {
          *o++ = c;
        } else {
          *o++ = static_cast<uint8_t>(0xC0 | (c >> 6));
          *o++ = static_cast<uint8_t>(0x80 | (c & 0x3F));
        }
      }
      return std::move(out).Release();
    }
    case Encoding::kOther: break;
  }
  return Status::NotImplemented("encoding is not decoded natively");
}

// ---- lines ---------------------------------------------------------------------------------

// How the text is cut into lines; each mode is one of Python's newline behaviours.
enum class LineMode : uint8_t {
  kUniversal,       // newline=None: "\r\n" and "\r" become "\n", lines end after "\n"
  kUniversalKeep,   // newline="": lines end after "\r\n", "\r" or "\n", kept as they are
  kLf,              // newline="\n"
  kCr,              // open(newline="\r"): lines end after "\r"
  kCrLf,            // open(newline="\r\n"): lines end after "\r\n"
  kCrStringIo,      // StringIO(text, newline="\r"): each "\n" becomes "\r" first
  kCrLfStringIo,    // StringIO(text, newline="\r\n"): each "\n" becomes "\r\n" first
  kSplitKeepLast,   // file_to_blocks: text.split(d), an empty last part kept
  kSplitDropEmpty,  // decode(): text.split(d), an empty last part dropped
};

const char* AsChars(const Buffer& b) { return reinterpret_cast<const char*>(b.data()); }

// Offsets are reserved for lines of 32 bytes; a partition keeps them, so give back what long
// lines left unused.
StringList MakeList(Buffer text, std::shared_ptr<std::vector<int64_t>> offsets) {
  if (offsets->capacity() > offsets->size() * 2 + 64) offsets->shrink_to_fit();
  return StringList(std::move(text), std::move(offsets));
}

// Lines of `text` that end just after each occurrence of `terminator` (the last line may lack
// one), sharing `text`'s buffer.
StringList SplitAfter(Buffer text, std::string_view terminator) {
  auto offsets = std::make_shared<std::vector<int64_t>>();
  offsets->reserve(text.size() / 32 + 2);
  offsets->push_back(0);
  const uint8_t* p = text.data();
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const uint8_t* hit =
        terminator.size() == 1
            ? static_cast<const uint8_t*>(std::memchr(p + pos, terminator[0], n - pos))
            : Find(p + pos, n - pos, terminator);
    if (hit == nullptr) break;
    pos = static_cast<size_t>(hit - p) + terminator.size();
    offsets->push_back(static_cast<int64_t>(pos));
  }
  if (pos < n) offsets->push_back(static_cast<int64_t>(n));
  return MakeList(std::move(text), std::move(offsets));
}

// Dask's str.split on a custom delimiter `d` (non-overlapping matches, left to right), each part
// but the last with `d` put back. file_to_blocks keeps the last part always (an empty one when
// the text ends with a match); decode() drops it whenever the text ends with `d` — even when a
// self-overlapping delimiter ("||" in "a|||") leaves it non-empty, losing it, as Dask does.
StringList SplitOn(Buffer text, std::string_view d, bool drop_last_if_text_ends_with_d) {
  auto offsets = std::make_shared<std::vector<int64_t>>();
  offsets->push_back(0);
  const uint8_t* p = text.data();
  const size_t n = text.size();
  size_t pos = 0;
  while (const uint8_t* hit = Find(p + pos, n - pos, d)) {
    pos = static_cast<size_t>(hit - p) + d.size();
    offsets->push_back(static_cast<int64_t>(pos));
  }
  if (!(drop_last_if_text_ends_with_d && text.view().ends_with(d))) {
    offsets->push_back(static_cast<int64_t>(n));  // the last part, possibly ""
  }
  return StringList(std::move(text), std::move(offsets));
}

// newline="": a line ends after "\r\n", or after a "\r" or "\n" on its own.
StringList SplitUniversalKeep(Buffer text) {
  auto offsets = std::make_shared<std::vector<int64_t>>();
  offsets->reserve(text.size() / 32 + 2);
  offsets->push_back(0);
  const char* p = AsChars(text);
  const size_t n = text.size();
  // The next "\n" and "\r" at or after `pos`, each found once by memchr (n: none).
  auto next = [&](char c, size_t from) {
    const void* hit = std::memchr(p + from, c, n - from);
    return hit == nullptr ? n : static_cast<size_t>(static_cast<const char*>(hit) - p);
  };
  size_t pos = 0;
  size_t lf = next('\n', 0);
  size_t cr = next('\r', 0);
  while (pos < n) {
    if (lf < pos) lf = next('\n', pos);
    if (cr < pos) cr = next('\r', pos);
    size_t end = std::min(lf, cr);
    if (end == n) break;
    end += (end == cr && end + 1 < n && p[end + 1] == '\n') ? 2 : 1;
    pos = end;
    offsets->push_back(static_cast<int64_t>(pos));
  }
  if (pos < n) offsets->push_back(static_cast<int64_t>(n));
  return MakeList(std::move(text), std::move(offsets));
}

// newline=None: "\r\n" and a lone "\r" become "\n".
StringList SplitUniversal(Buffer text) {
  const char* p = AsChars(text);
  const size_t n = text.size();
  const void* first_cr = std::memchr(p, '\r', n);
  if (first_cr == nullptr) return SplitAfter(std::move(text), "\n");
  ByteBuffer out;
  out.Resize(n);
  uint8_t* o = out.data();
  size_t pos = 0;
  for (const char* cr = static_cast<const char*>(first_cr); cr != nullptr;
       cr = static_cast<const char*>(std::memchr(p + pos, '\r', n - pos))) {
    const auto at = static_cast<size_t>(cr - p);
    std::memcpy(o, p + pos, at - pos);
    o += at - pos;
    if (at + 1 < n && p[at + 1] == '\n') {
      pos = at + 1;  // the "\n" is copied with the next run
    } else {
      *o++ = '\n';
      pos = at + 1;
    }
  }
  std::memcpy(o, p + pos, n - pos);
  o += n - pos;
  out.Resize(static_cast<size_t>(o - out.data()));
  return SplitAfter(std::move(out).Release(), "\n");
}

// StringIO's newline="\r" / "\r\n": writing the initial value turns each "\n" into `newline`.
StringList SplitStringIo(Buffer text, std::string_view newline) {
  const char* p = AsChars(text);
  const size_t n = text.size();
  const size_t lfs = static_cast<size_t>(std::count(p, p + n, '\n'));
  if (lfs == 0) return SplitAfter(std::move(text), newline);
  ByteBuffer out;
  out.Resize(n + lfs * (newline.size() - 1));
  uint8_t* o = out.data();
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\n') {
      std::memcpy(o, newline.data(), newline.size());
      o += newline.size();
    } else {
      *o++ = static_cast<uint8_t>(p[i]);
    }
  }
  return SplitAfter(std::move(out).Release(), newline);
}

StringList SplitLines(Buffer text, LineMode mode, std::string_view delimiter) {
  if (text.size() == 0) return StringList();  // every branch of Dask gives [] for ""
  switch (mode) {
    case LineMode::kUniversal: return SplitUniversal(std::move(text));
    case LineMode::kUniversalKeep: return SplitUniversalKeep(std::move(text));
    case LineMode::kLf: return SplitAfter(std::move(text), "\n");
    case LineMode::kCr: return SplitAfter(std::move(text), "\r");
    case LineMode::kCrLf: return SplitAfter(std::move(text), "\r\n");
    case LineMode::kCrStringIo: return SplitStringIo(std::move(text), "\r");
    case LineMode::kCrLfStringIo: return SplitStringIo(std::move(text), "\r\n");
    case LineMode::kSplitKeepLast: return SplitOn(std::move(text), delimiter, false);
    case LineMode::kSplitDropEmpty: return SplitOn(std::move(text), delimiter, true);
  }
  return StringList();
}

LineMode ModeFor(const std::string& linedelimiter, bool has_linedelimiter, bool blocked) {
  if (!has_linedelimiter) return LineMode::kUniversal;
  if (linedelimiter.empty()) return LineMode::kUniversalKeep;
  if (linedelimiter == "\n") return LineMode::kLf;
  if (linedelimiter == "\r") return blocked ? LineMode::kCrStringIo : LineMode::kCr;
  if (linedelimiter == "\r\n") return blocked ? LineMode::kCrLfStringIo : LineMode::kCrLf;
  return blocked ? LineMode::kSplitDropEmpty : LineMode::kSplitKeepLast;
}

}  // namespace

Result<Buffer> ReadBlock(const std::string& path, int64_t offset, int64_t length,
                         const std::string& compression, const std::string& delimiter) {
  TEGU_ASSIGN_OR_RAISE(Compression codec, ParseCompression(compression));
  TEGU_ASSIGN_OR_RAISE(Block block, ReadBlockAt(path, offset, length, codec, delimiter));
  return std::move(block.bytes);
}

Result<StringList> ReadText(const std::string& path, int64_t offset, int64_t length,
                            const std::string& compression, const std::string& linedelimiter,
                            bool has_linedelimiter, bool blocked, const std::string& encoding) {
  // Refuse what is not native before any I/O: the caller falls back to Python for it.
  const Encoding enc = ParseEncoding(encoding);
  if (enc == Encoding::kOther) {
    return Status::NotImplemented("read_text: encoding '" + encoding +
                                  "' is not decoded natively");
  }
  TEGU_ASSIGN_OR_RAISE(Compression codec, ParseCompression(compression));
  if (!blocked) {
    offset = 0;
    length = -1;
  }
  // Dask's blocks end at linedelimiter.encode() (UTF-8, whatever the file's encoding), or
  // "\n" when it is None; an empty one (b"", falsy to fsspec) cuts blocks at raw offsets.
  std::string_view block_delimiter;
  if (blocked) block_delimiter = has_linedelimiter ? std::string_view(linedelimiter) : "\n";
  TEGU_ASSIGN_OR_RAISE(Block block, ReadBlockAt(path, offset, length, codec, block_delimiter));
  TEGU_ASSIGN_OR_RAISE(Buffer text, Decode(block, enc, path));
  return SplitLines(std::move(text), ModeFor(linedelimiter, has_linedelimiter, blocked),
                    linedelimiter);
}

bool IsNativeEncoding(std::string_view encoding) {
  return ParseEncoding(encoding) != Encoding::kOther;
}

void RegisterTextIoKernels() {
  RegisterNative("tegu.bag.read_text",
                 [](std::string path, int64_t offset, int64_t length, std::string compression,
                    std::string linedelimiter, bool has_linedelimiter, bool blocked,
                    std::string encoding) -> StringList {
                   Result<StringList> lines =
                       ReadText(path, offset, length, compression, linedelimiter,
                                has_linedelimiter, blocked, encoding);
                   if (!lines.ok()) throw StatusError(lines.status());
                   return lines.MoveValueUnsafe();
                 });
}

}  // namespace tegu::bag
