// Whole-file decompression for read_text: gzip, bz2, xz/lzma and zstd streams decoded as
// Python's gzip, bz2, lzma modules (and zstandard) read them — concatenated gzip members, bz2/xz
// streams and zstd frames included — with their errors worded and typed as Python's are
// (EOFError for a truncated file, OSError for corrupt data). text_io.cpp is its only user.
//
// Thread-safety: the functions are pure functions of their arguments and the file's contents;
// they may run concurrently (on different ByteBuffers).
#pragma once

#include <cstdint>
#include <string>

#include "tegu/bag/file_internal.hpp"
#include "tegu/result.hpp"

namespace tegu::bag::internal {

enum class Compression : uint8_t { kNone, kGzip, kBz2, kXz, kZstd };

// The compression named as read_text's `compression` argument: "" (none), "gzip", "bz2",
// "xz" or "lzma", "zstd"; another name is NotImplemented (the caller falls back to Python).
Result<Compression> ParseCompression(const std::string& name);

// Appends the decompressed contents of the whole of `file` to `out`. `compression` is not
// kNone (Invalid if it is: an uncompressed file is read by the caller, by blocks).
Status Decompress(const File& file, Compression compression, ByteBuffer* out);

}  // namespace tegu::bag::internal
