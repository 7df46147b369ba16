// Reading text files natively: the blocks of `read_text` (fsspec's read_block with a delimiter,
// so that consecutive blocks partition a file exactly), whole-file decompression (gzip, bz2,
// xz/lzma, zstd) and the line splitting of dask.bag.read_text in both of its branches, with
// strict UTF-8, ASCII and Latin-1 decoding. The kernel "tegu.bag.read_text" (registered by
// RegisterTextIoKernels) calls ReadText; the Python binding calls ReadBlock directly for the
// encodings and error handlers it decodes itself.
//
// Errors carry the Python exception type a Dask user would see (common/error_type.hpp):
// FileNotFoundError, PermissionError, IsADirectoryError, OSError, EOFError (a truncated
// compressed file) and UnicodeDecodeError.
//
// Thread-safety: the functions are pure functions of their arguments and the file's contents;
// they may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tegu/bag/strings.hpp"
#include "tegu/result.hpp"

namespace tegu::bag {

// The bytes of one block of the file at `path`, as fsspec's read_block(f, offset, length,
// delimiter) returns them: the range [offset, offset + length) moved to start just after the
// first `delimiter` that begins at or after `offset` (unless offset is 0) and to end just after
// the first that begins at or after offset + length (or at the end of the file). Blocks with
// consecutive ranges therefore partition the file exactly. An empty delimiter reads the range
// as it is; length -1 reads to the end of the file.
//
// `compression` is "" (none), "gzip", "bz2", "xz" (or "lzma") or "zstd"; a compressed file
// is decompressed whole as a stream (concatenated gzip members, bz2/xz streams and zstd frames
// included), so it must be read with offset 0 and length -1 (Invalid otherwise). Another
// compression is NotImplemented.
// `*start`, when given, is set to where the block begins in the file (0 for a compressed one):
// the Python decoding path names that offset in its errors.
Result<Buffer> ReadBlock(const std::string& path, int64_t offset, int64_t length,
                         const std::string& compression, const std::string& delimiter,
                         int64_t* start = nullptr);

// What the kernel "tegu.bag.read_text" computes: the lines of one partition of
// dask.bag.read_text(path, blocksize=..., linedelimiter=..., encoding=..., errors="strict"),
// each keeping its line ending exactly as Dask's does.
//   - blocked = false is Dask's blocksize=None branch: the whole file, read in text mode
//     (universal newlines when linedelimiter is None, newline=linedelimiter for "", "\n", "\r"
//     and "\r\n", otherwise split on the delimiter, keeping an empty last part).
//   - blocked = true is the blocksize branch: ReadBlock(path, offset, length, compression,
//     linedelimiter or "\n") decoded as Dask's decode() does (io.StringIO(text, newline=...),
//     whose "\r" and "\r\n" modes turn each "\n" into the delimiter first; or a split that
//     drops an empty last part).
// `has_linedelimiter` false means linedelimiter=None. `encoding` is any spelling Python's
// codecs.lookup accepts for utf-8, ascii or latin-1 (others: NotImplemented); Latin-1 text is
// returned as UTF-8.
Result<StringList> ReadText(const std::string& path, int64_t offset, int64_t length,
                            const std::string& compression, const std::string& linedelimiter,
                            bool has_linedelimiter, bool blocked, const std::string& encoding);

// Whether ReadText decodes `encoding` natively (it names utf-8, ascii or latin-1 to Python's
// codecs.lookup).
bool IsNativeEncoding(std::string_view encoding);

}  // namespace tegu::bag
