#include "tegu/bag/text_io.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "tegu/bag/compression_internal.hpp"
#include "tegu/bag/file_internal.hpp"
#include "tegu/bag/kernels.hpp"
#include "tegu/common/error_type.hpp"
#include "tegu/native.hpp"

namespace tegu::bag {

namespace {

using internal::ByteBuffer;
using internal::Compression;
using internal::Decompress;
using internal::File;
using internal::ParseCompression;
using internal::PyRepr;

// fsspec's seek_delimiter reads 64 KiB at a time; lines are short, so one read almost always
// finds the delimiter that ends a block.
constexpr size_t kSearchChunk = size_t{1} << 16;

// ---- bytes ---------------------------------------------------------------------------------

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
  if (compression == Compression::kNone) {
    TEGU_ASSIGN_OR_RAISE(bytes, ReadPlainBlock(file, offset, length, delimiter, &block.start));
  } else {
    TEGU_RETURN_NOT_OK(Decompress(file, compression, &bytes));
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
                         const std::string& compression, const std::string& delimiter,
                         int64_t* start) {
  TEGU_ASSIGN_OR_RAISE(Compression codec, ParseCompression(compression));
  TEGU_ASSIGN_OR_RAISE(Block block, ReadBlockAt(path, offset, length, codec, delimiter));
  if (start != nullptr) *start = block.start;
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
