#include "tegu/bag/compression_internal.hpp"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "tegu/common/error_type.hpp"

namespace tegu::bag::internal {

namespace {

// Compressed input is streamed through the decoder in chunks of this size.
constexpr size_t kInputChunk = size_t{1} << 20;
// The least output room reserved up front, however small the compressed file.
constexpr size_t kMinOutput = size_t{1} << 16;

// Python's repr() of bytes (for gzip's "Not a gzipped file (b'..')"). Always single-quoted,
// with a ' escaped, where Python would switch to " for bytes holding a ' and no ".
std::string PyBytesRepr(std::string_view s) {
  return "b" + PyQuote(s, '\'', /*escape_high_bytes=*/true);
}

std::string FileSuffix(const std::string& path) { return " (file " + PyRepr(path) + ")"; }

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
  out->Reserve(std::max<size_t>(static_cast<size_t>(file.size()) * 4, kMinOutput));
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

}  // namespace

Result<Compression> ParseCompression(const std::string& name) {
  if (name.empty()) return Compression::kNone;
  if (name == "gzip") return Compression::kGzip;
  if (name == "bz2") return Compression::kBz2;
  if (name == "xz" || name == "lzma") return Compression::kXz;
  if (name == "zstd") return Compression::kZstd;
  return Status::NotImplemented("compression '" + name + "' is not read natively");
}

Status Decompress(const File& file, Compression compression, ByteBuffer* out) {
  switch (compression) {
    case Compression::kNone: break;
    case Compression::kGzip: return InflateGzip(file, out);
    case Compression::kBz2: return DecodeStreams<Bz2Codec>(file, out);
    case Compression::kXz: return DecodeStreams<XzCodec>(file, out);
    case Compression::kZstd: return DecodeZstd(file, out);
  }
  return Status::Invalid("Decompress: " + PyRepr(file.path()) + " is not compressed");
}

}  // namespace tegu::bag::internal
