#include "tegu/bag/text_io.hpp"

#include <bzlib.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tegu/bag/file_internal.hpp"
#include "tegu/bag/kernel_test_util.hpp"
#include "tegu/bag/kernels.hpp"
#include "tegu/common/error_type.hpp"
#include "tegu/native.hpp"

namespace tegu::bag {
namespace {

using Lines = std::vector<std::string>;

// One Dask-verified case: dask.bag.read_text(file, blocksize=blocksize (-1: None),
// linedelimiter=linedelimiter, encoding="utf-8").compute(scheduler="sync") on a file holding
// `content` gave `lines`, or raised UnicodeDecodeError with `error` (dask 2026.8.0, fsspec
// 2026.9.0, CPython 3.11, as installed in .bench-venv).
struct DaskCase {
  const char* name;
  std::string content;
  std::optional<std::string> linedelimiter;
  int64_t blocksize;
  Lines lines;
  std::string error;
};

// clang-format off
const std::vector<DaskCase> kDaskCases = {
    {"mixed", "a\r\nb\rc\n\nd", std::nullopt, -1, {"a\n", "b\n", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", std::nullopt, 3, {"a\n", "b\n", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", std::nullopt, 4, {"a\n", "b\n", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", std::nullopt, 1000, {"a\n", "b\n", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "", -1, {"a\r\n", "b\r", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "", 3, {"a\r\n", "b\r", "c", "\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "", 4, {"a\r\n", "b", "\r", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "", 1000, {"a\r\n", "b\r", "c\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\n", -1, {"a\r\n", "b\rc\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\n", 3, {"a\r\n", "b\rc\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\n", 4, {"a\r\n", "b\rc\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\n", 1000, {"a\r\n", "b\rc\n", "\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r", -1, {"a\r", "\nb\r", "c\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r", 3, {"a\r", "\r", "b\r", "c\r", "\r", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r", 4, {"a\r", "\r", "b\r", "c\r", "\r", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r", 1000, {"a\r", "\r", "b\r", "c\r", "\r", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r\n", -1, {"a\r\n", "b\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r\n", 3, {"a\r\r\n", "b\rc\r\n", "\r\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r\n", 4, {"a\r\r\n", "b\rc\r\n", "\r\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "\r\n", 1000, {"a\r\r\n", "b\rc\r\n", "\r\n", "d"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "|", -1, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "|", 3, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "|", 4, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "|", 1000, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "||", -1, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "||", 3, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "||", 4, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed", "a\r\nb\rc\n\nd", "||", 1000, {"a\r\nb\rc\n\nd"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", std::nullopt, -1, {"a\n", "b\n", "c\n", "\n", "d\n"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", std::nullopt, 3, {"a\n", "b\n", "c\n", "\n", "d\n"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", std::nullopt, 4, {"a\n", "b\n", "c\n", "\n", "d\n"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", std::nullopt, 1000, {"a\n", "b\n", "c\n", "\n", "d\n"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "", -1, {"a\r\n", "b\r", "c\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "", 3, {"a\r\n", "b\r", "c", "\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "", 4, {"a\r\n", "b\r", "c\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "", 1000, {"a\r\n", "b\r", "c\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\n", -1, {"a\r\n", "b\rc\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\n", 3, {"a\r\n", "b\rc\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\n", 4, {"a\r\n", "b\rc\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\n", 1000, {"a\r\n", "b\rc\n", "\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r", -1, {"a\r", "\nb\r", "c\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r", 3, {"a\r", "\r", "b\r", "c\r", "\r", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r", 4, {"a\r", "\r", "b\r", "c\r", "\r", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r", 1000, {"a\r", "\r", "b\r", "c\r", "\r", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r\n", -1, {"a\r\n", "b\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r\n", 3, {"a\r\r\n", "b\rc\r\n", "\r\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r\n", 4, {"a\r\r\n", "b\rc\r\n", "\r\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "\r\n", 1000, {"a\r\r\n", "b\rc\r\n", "\r\n", "d\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "|", -1, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "|", 3, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "|", 4, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "|", 1000, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "||", -1, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "||", 3, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "||", 4, {"a\r\nb\rc\n\nd\r"}, ""},
    {"mixed_cr_end", "a\r\nb\rc\n\nd\r", "||", 1000, {"a\r\nb\rc\n\nd\r"}, ""},
    {"pipes", "one|two||three|", std::nullopt, -1, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", std::nullopt, 3, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", std::nullopt, 4, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", std::nullopt, 1000, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "", -1, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "", 3, {"one", "|tw", "o||", "thr", "ee|"}, ""},
    {"pipes", "one|two||three|", "", 4, {"one|t", "wo||t", "hree|"}, ""},
    {"pipes", "one|two||three|", "", 1000, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\n", -1, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\n", 3, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\n", 4, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\n", 1000, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r", -1, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r", 3, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r", 4, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r", 1000, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r\n", -1, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r\n", 3, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r\n", 4, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "\r\n", 1000, {"one|two||three|"}, ""},
    {"pipes", "one|two||three|", "|", -1, {"one|", "two|", "|", "three|", ""}, ""},
    {"pipes", "one|two||three|", "|", 3, {"one|", "two|", "|", "three|"}, ""},
    {"pipes", "one|two||three|", "|", 4, {"one|", "two|", "|", "three|"}, ""},
    {"pipes", "one|two||three|", "|", 1000, {"one|", "two|", "|", "three|"}, ""},
    {"pipes", "one|two||three|", "||", -1, {"one|two||", "three|"}, ""},
    {"pipes", "one|two||three|", "||", 3, {"one|two||", "three|"}, ""},
    {"pipes", "one|two||three|", "||", 4, {"one|two||", "three|"}, ""},
    {"pipes", "one|two||three|", "||", 1000, {"one|two||", "three|"}, ""},
    {"lf_end", "x\ny\n", std::nullopt, -1, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", std::nullopt, 3, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", std::nullopt, 4, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", std::nullopt, 1000, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "", -1, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "", 3, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "", 4, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "", 1000, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "\n", -1, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "\n", 3, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "\n", 4, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "\n", 1000, {"x\n", "y\n"}, ""},
    {"lf_end", "x\ny\n", "\r", -1, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "\r", 3, {"x\r", "y\r"}, ""},
    {"lf_end", "x\ny\n", "\r", 4, {"x\r", "y\r"}, ""},
    {"lf_end", "x\ny\n", "\r", 1000, {"x\r", "y\r"}, ""},
    {"lf_end", "x\ny\n", "\r\n", -1, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "\r\n", 3, {"x\r\n", "y\r\n"}, ""},
    {"lf_end", "x\ny\n", "\r\n", 4, {"x\r\n", "y\r\n"}, ""},
    {"lf_end", "x\ny\n", "\r\n", 1000, {"x\r\n", "y\r\n"}, ""},
    {"lf_end", "x\ny\n", "|", -1, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "|", 3, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "|", 4, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "|", 1000, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "||", -1, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "||", 3, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "||", 4, {"x\ny\n"}, ""},
    {"lf_end", "x\ny\n", "||", 1000, {"x\ny\n"}, ""},
    {"crlf", "ab\r\ncd\r\nef", std::nullopt, -1, {"ab\n", "cd\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", std::nullopt, 3, {"ab\n", "cd\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", std::nullopt, 4, {"ab\n", "cd\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", std::nullopt, 1000, {"ab\n", "cd\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "", -1, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "", 3, {"ab\r", "\n", "cd", "\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "", 4, {"ab\r\n", "c", "d\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "", 1000, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\n", -1, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\n", 3, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\n", 4, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\n", 1000, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r", -1, {"ab\r", "\ncd\r", "\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r", 3, {"ab\r", "\r", "cd\r", "\r", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r", 4, {"ab\r", "\r", "cd\r", "\r", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r", 1000, {"ab\r", "\r", "cd\r", "\r", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r\n", -1, {"ab\r\n", "cd\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r\n", 3, {"ab\r\r\n", "cd\r\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r\n", 4, {"ab\r\r\n", "cd\r\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "\r\n", 1000, {"ab\r\r\n", "cd\r\r\n", "ef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "|", -1, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "|", 3, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "|", 4, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "|", 1000, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "||", -1, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "||", 3, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "||", 4, {"ab\r\ncd\r\nef"}, ""},
    {"crlf", "ab\r\ncd\r\nef", "||", 1000, {"ab\r\ncd\r\nef"}, ""},
    {"only_endings", "\n\n\r\r\n\r", std::nullopt, -1, {"\n", "\n", "\n", "\n", "\n"}, ""},
    {"only_endings", "\n\n\r\r\n\r", std::nullopt, 3, {"\n", "\n", "\n", "\n", "\n"}, ""},
    {"only_endings", "\n\n\r\r\n\r", std::nullopt, 4, {"\n", "\n", "\n", "\n", "\n"}, ""},
    {"only_endings", "\n\n\r\r\n\r", std::nullopt, 1000, {"\n", "\n", "\n", "\n", "\n"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "", -1, {"\n", "\n", "\r", "\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "", 3, {"\n", "\n", "\r", "\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "", 4, {"\n", "\n", "\r", "\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "", 1000, {"\n", "\n", "\r", "\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\n", -1, {"\n", "\n", "\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\n", 3, {"\n", "\n", "\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\n", 4, {"\n", "\n", "\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\n", 1000, {"\n", "\n", "\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r", -1, {"\n\n\r", "\r", "\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r", 3, {"\r", "\r", "\r", "\r", "\r", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r", 4, {"\r", "\r", "\r", "\r", "\r", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r", 1000, {"\r", "\r", "\r", "\r", "\r", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r\n", -1, {"\n\n\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r\n", 3, {"\r\n", "\r\n", "\r\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r\n", 4, {"\r\n", "\r\n", "\r\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "\r\n", 1000, {"\r\n", "\r\n", "\r\r\r\n", "\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "|", -1, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "|", 3, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "|", 4, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "|", 1000, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "||", -1, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "||", 3, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "||", 4, {"\n\n\r\r\n\r"}, ""},
    {"only_endings", "\n\n\r\r\n\r", "||", 1000, {"\n\n\r\r\n\r"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", std::nullopt, -1, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", std::nullopt, 3, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", std::nullopt, 4, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", std::nullopt, 1000, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "", -1, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "", 3, {}, "'utf-8' codec can't decode byte 0x98 in position 0: invalid start byte"},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "", 4, {}, "'utf-8' codec can't decode byte 0x8c in position 0: invalid start byte"},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "", 1000, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\n", -1, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\n", 3, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\n", 4, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\n", 1000, {"h\xc3\xa9""llo\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r", -1, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r", "\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r", 3, {"h\xc3\xa9""llo\r", "\xe4\xb8\x96""\xe7\x95\x8c""|\r", "\r", "\xf0\x9f\x98\x80""\r"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r", 4, {"h\xc3\xa9""llo\r", "\xe4\xb8\x96""\xe7\x95\x8c""|\r", "\r", "\xf0\x9f\x98\x80""\r"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r", 1000, {"h\xc3\xa9""llo\r", "\xe4\xb8\x96""\xe7\x95\x8c""|\r", "\r", "\xf0\x9f\x98\x80""\r"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r\n", -1, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n", "\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r\n", 3, {"h\xc3\xa9""llo\r\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\r\n", "\xf0\x9f\x98\x80""\r\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r\n", 4, {"h\xc3\xa9""llo\r\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\r\n", "\xf0\x9f\x98\x80""\r\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "\r\n", 1000, {"h\xc3\xa9""llo\r\n", "\xe4\xb8\x96""\xe7\x95\x8c""|\r\r\n", "\xf0\x9f\x98\x80""\r\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "|", -1, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|", "\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "|", 3, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|", "\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "|", 4, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|", "\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "|", 1000, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|", "\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "||", -1, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "||", 3, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "||", 4, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n"}, ""},
    {"utf8", "h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n", "||", 1000, {"h\xc3\xa9""llo\n\xe4\xb8\x96""\xe7\x95\x8c""|\r\n\xf0\x9f\x98\x80""\n"}, ""},
};
// clang-format on

class TextIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBagKernels();
    std::string tmpl = (std::filesystem::temp_directory_path() / "tegu_text_io_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, std::string_view bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  std::filesystem::path dir_;
};

Lines ToLines(const StringList& list) {
  Lines out;
  for (size_t i = 0; i < list.size(); ++i) out.emplace_back(list[i]);
  return out;
}

// dask.bytes.read_bytes's block offsets and lengths for a file of `size` bytes.
std::vector<std::pair<int64_t, int64_t>> DaskBlocks(int64_t size, int64_t blocksize) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  if (size == 0) return blocks;  // Dask skips empty files
  const double bs = (size % blocksize != 0 && size > blocksize)
                        ? static_cast<double>(size) / static_cast<double>(size / blocksize)
                        : static_cast<double>(blocksize);
  double place = 0;
  std::vector<int64_t> off = {0};
  while (static_cast<double>(size) - place > bs * 2 - 1) {
    place += bs;
    off.push_back(static_cast<int64_t>(place));
  }
  for (size_t i = 0; i < off.size(); ++i) {
    const int64_t end = i + 1 < off.size() ? off[i + 1] : size;
    blocks.emplace_back(off[i], end - off[i]);
  }
  return blocks;
}

// All lines of `path` as Dask's read_text(path, blocksize, linedelimiter) has them: the
// partitions' lines one after another.
Result<Lines> DaskLines(const std::string& path, int64_t size, int64_t blocksize,
                        const std::optional<std::string>& delimiter,
                        const std::string& encoding = "utf-8",
                        const std::string& compression = "") {
  Lines all;
  auto add = [&](Result<StringList> part) -> Status {
    if (!part.ok()) return part.status();
    for (std::string& line : ToLines(part.ValueUnsafe())) all.push_back(std::move(line));
    return Status::OK();
  };
  if (blocksize < 0) {
    TEGU_RETURN_NOT_OK(add(ReadText(path, 0, -1, compression, delimiter.value_or(""),
                                    delimiter.has_value(), false, encoding)));
    return all;
  }
  for (auto [offset, length] : DaskBlocks(size, blocksize)) {
    TEGU_RETURN_NOT_OK(add(ReadText(path, offset, length, compression, delimiter.value_or(""),
                                    delimiter.has_value(), true, encoding)));
  }
  return all;
}

std::string Describe(const DaskCase& c) {
  std::string d = c.linedelimiter ? "'" + *c.linedelimiter + "'" : "None";
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == '\n' || d[i] == '\r') d.replace(i, 1, d[i] == '\n' ? "\\n" : "\\r");
  }
  return std::string(c.name) + " linedelimiter=" + d + " blocksize=" +
         (c.blocksize < 0 ? "None" : std::to_string(c.blocksize));
}

TEST_F(TextIoTest, MatchesDask) {
  for (const DaskCase& c : kDaskCases) {
    SCOPED_TRACE(Describe(c));
    const std::string path = Write(c.name, c.content);
    Result<Lines> got = DaskLines(path, static_cast<int64_t>(c.content.size()), c.blocksize,
                                  c.linedelimiter);
    if (c.error.empty()) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(got.ValueUnsafe(), c.lines);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(ErrorTypeOf(got.status()), "UnicodeDecodeError");
      // Dask reports the error of whichever block its scheduler ran first; one block fails so.
      bool found = false;
      for (auto [offset, length] : DaskBlocks(static_cast<int64_t>(c.content.size()),
                                              c.blocksize)) {
        Result<StringList> block = ReadText(path, offset, length, "", c.linedelimiter.value_or(""),
                                            c.linedelimiter.has_value(), true, "utf-8");
        if (!block.ok() && block.status().message().rfind(c.error, 0) == 0) found = true;
      }
      EXPECT_TRUE(found) << c.error;
    }
  }
}

TEST_F(TextIoTest, KernelIsRegistered) {
  const std::string path = Write("k.txt", "a\nb\n");
  Result<std::shared_ptr<const TaskFunction>> fn = FindFunction("tegu.bag.read_text");
  ASSERT_TRUE(fn.ok()) << fn.status().ToString();
  auto lit = [](auto v) { return Arg::Literal(Value::From(v)); };
  const TaskSpec spec(fn.ValueUnsafe(),
                      {lit(path), lit(int64_t{0}), lit(int64_t{-1}), lit(std::string()),
                       lit(std::string()), lit(false), lit(false), lit(std::string("utf-8"))});
  Result<Value> v = spec.Call(NoInputs());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const StringList* lines = v.ValueUnsafe().TryGet<StringList>();
  ASSERT_NE(lines, nullptr);
  EXPECT_EQ(ToLines(*lines), (Lines{"a\n", "b\n"}));

  // A failure is thrown as a StatusError that keeps the Python exception type.
  const TaskSpec missing(fn.ValueUnsafe(), {lit((dir_ / "nope").string()), lit(int64_t{0}),
                                            lit(int64_t{-1}), lit(std::string()),
                                            lit(std::string()), lit(false), lit(false),
                                            lit(std::string("utf-8"))});
  try {
    (void)missing.Call(NoInputs());
    ADD_FAILURE() << "expected a StatusError";
  } catch (const StatusError& e) {
    EXPECT_EQ(ErrorTypeOf(e.status()), "FileNotFoundError");
  }
}

TEST_F(TextIoTest, ReadBlockMatchesFsspecAroundCrLf) {
  // fsspec.utils.read_block(BytesIO(b"ab\r\ncd\r\nef"), offset, length, b"\r\n"):
  const std::string path = Write("crlf", "ab\r\ncd\r\nef");
  const std::vector<std::tuple<int64_t, int64_t, std::string>> expected = {
      {0, 3, "ab\r\ncd\r\n"}, {3, 3, ""},       {6, 5, "ef"}, {0, 2, "ab\r\n"},
      {2, 1, "cd\r\n"},       {3, 1, ""},       {4, 100, "ef"}};
  for (const auto& [offset, length, bytes] : expected) {
    Result<Buffer> block = ReadBlock(path, offset, length, "", "\r\n");
    ASSERT_TRUE(block.ok()) << block.status().ToString();
    EXPECT_EQ(block.ValueUnsafe().view(), bytes) << offset << "+" << length;
  }
  // Blocks with the "\n" delimiter never split a "\r\n"; universal newlines see whole ones.
  Result<StringList> first = ReadText(path, 0, 3, "", "", false, true, "utf-8");
  Result<StringList> second = ReadText(path, 3, 7, "", "", false, true, "utf-8");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(ToLines(first.ValueUnsafe()), (Lines{"ab\n"}));
  EXPECT_EQ(ToLines(second.ValueUnsafe()), (Lines{"cd\n", "ef"}));
}

// Text with every kind of line ending, multi-byte characters and, when `long_lines`, lines
// longer than the 64 KiB search chunk.
std::string MixedText(size_t lines, bool long_lines) {
  static const char* kEndings[] = {"\n", "\r\n", "\r", "|", "<>", "\n\n"};
  static const char* kWords[] = {"alpha", "\xc3\xa9t\xc3\xa9", "\xe4\xb8\x96", "z",
                                 "\xf0\x9f\x98\x80", ""};
  std::string text;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(state >> 33);
  };
  for (size_t i = 0; i < lines; ++i) {
    const size_t words = long_lines && i % 50 == 7 ? 30000 : next() % 12;
    for (size_t w = 0; w < words; ++w) {
      text += kWords[next() % 6];
      text += ' ';
    }
    text += kEndings[next() % 6];
  }
  return text;
}

TEST_F(TextIoTest, BlocksPartitionTheFile) {
  struct Setup {
    std::string text;
    std::vector<int64_t> blocksizes;
  };
  const std::string small = MixedText(300, false);
  const std::string big = MixedText(400, true);
  ASSERT_GT(big.size(), 500000u);
  const std::vector<Setup> setups = {
      {small, {1, 2, 3, 5, 7, 16, 100, 1000, static_cast<int64_t>(small.size()) - 1}},
      {big, {4096, 65536, 70001, 300000, static_cast<int64_t>(big.size())}},
  };
  // Not "||" for the lines: Dask's blocks do not agree with its whole file on a delimiter that
  // overlaps itself (see SelfOverlappingDelimiter); its bytes still partition the file.
  const std::vector<std::optional<std::string>> delimiters = {std::nullopt, "\n", "\r", "\r\n",
                                                              "|", "<>", "||", ""};
  for (const Setup& s : setups) {
    const std::string path = Write("mixed.txt", s.text);
    const auto size = static_cast<int64_t>(s.text.size());
    for (const auto& d : delimiters) {
      Result<Lines> whole = DaskLines(path, size, size + 1, d);  // one block
      ASSERT_TRUE(whole.ok()) << whole.status().ToString();
      for (int64_t bs : s.blocksizes) {
        SCOPED_TRACE("size " + std::to_string(size) + " blocksize " + std::to_string(bs) +
                     " delimiter " + (d ? std::to_string(d->size()) + " bytes" : "None"));
        std::string joined;
        for (auto [offset, length] : DaskBlocks(size, bs)) {
          Result<Buffer> block = ReadBlock(path, offset, length, "", d.value_or("\n"));
          ASSERT_TRUE(block.ok()) << block.status().ToString();
          joined += block.ValueUnsafe().view();
        }
        ASSERT_EQ(joined.size(), s.text.size());
        ASSERT_TRUE(joined == s.text);
        // An empty delimiter cuts blocks anywhere (even inside a character), as in Dask.
        if (d && (d->empty() || *d == "||")) continue;
        Result<Lines> lines = DaskLines(path, size, bs, d);
        ASSERT_TRUE(lines.ok()) << lines.status().ToString();
        ASSERT_TRUE(lines.ValueUnsafe() == whole.ValueUnsafe());
      }
    }
  }
}

TEST_F(TextIoTest, SelfOverlappingDelimiter) {
  // Dask on b"a|||b" and b"a|||" with linedelimiter="||" (blocksize None, 1, 2, 3): its decode()
  // drops the last part of a block ending in the delimiter even when it is not empty.
  const std::vector<std::tuple<std::string, int64_t, Lines>> cases = {
      {"a|||b", -1, {"a||", "|b"}}, {"a|||b", 1, {"a||", "|", "b"}},
      {"a|||b", 2, {"a||", "b"}},   {"a|||b", 3, {"a||", "|b"}},
      {"a|||", -1, {"a||", "|"}},   {"a|||", 1, {"a||", "|"}},
      {"a|||", 2, {"a||"}},         {"a|||", 3, {"a||"}},
  };
  for (const auto& [content, blocksize, lines] : cases) {
    const std::string path = Write("overlap", content);
    Result<Lines> got =
        DaskLines(path, static_cast<int64_t>(content.size()), blocksize, std::string("||"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got.ValueUnsafe(), lines) << content << " " << blocksize;
  }
}

TEST_F(TextIoTest, EvenBlocksPartitionTheFileToo) {
  // Any consecutive ranges partition the file, not only Dask's.
  const std::string text = MixedText(200, false);
  const std::string path = Write("even.txt", text);
  for (const std::string d : {"\n", "\r\n", "||"}) {
    for (int64_t bs : {1, 4, 9, 64}) {
      std::string joined;
      for (int64_t off = 0; off < static_cast<int64_t>(text.size()); off += bs) {
        int64_t start = -1;
        Result<Buffer> block = ReadBlock(path, off, bs, "", d, &start);
        ASSERT_TRUE(block.ok());
        EXPECT_EQ(start, static_cast<int64_t>(joined.size()));  // each starts where one ended
        joined += block.ValueUnsafe().view();
      }
      EXPECT_TRUE(joined == text) << bs;
    }
  }
  // The last block may reach past the end; a block past the end is empty.
  Result<Buffer> tail = ReadBlock(path, 0, static_cast<int64_t>(text.size()) * 2, "", "\n");
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail.ValueUnsafe().size(), text.size());
  Result<Buffer> past = ReadBlock(path, static_cast<int64_t>(text.size()) + 5, 10, "", "\n");
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past.ValueUnsafe().size(), 0u);
}

TEST_F(TextIoTest, EmptyFile) {
  const std::string path = Write("empty.txt", "");
  for (const std::optional<std::string>& d :
       std::vector<std::optional<std::string>>{std::nullopt, "", "\n", "\r", "\r\n", "|"}) {
    Result<StringList> whole = ReadText(path, 0, -1, "", d.value_or(""), d.has_value(), false,
                                        "utf-8");
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(whole.ValueUnsafe().size(), 0u);
    Result<StringList> block = ReadText(path, 0, 10, "", d.value_or(""), d.has_value(), true,
                                        "utf-8");
    ASSERT_TRUE(block.ok());
    EXPECT_EQ(block.ValueUnsafe().size(), 0u);
  }
  Result<Buffer> bytes = ReadBlock(path, 0, -1, "", "\n");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes.ValueUnsafe().size(), 0u);
}

TEST_F(TextIoTest, BadArguments) {
  const std::string path = Write("a.txt", "a\n");
  EXPECT_EQ(ReadBlock(path, -1, 2, "", "\n").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(ReadBlock(path, 0, -2, "", "\n").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(ReadBlock(path, 0, -1, "zip", "\n").status().code(), StatusCode::kNotImplemented);
  EXPECT_EQ(ReadBlock(path, 1, 2, "gzip", "\n").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(ReadText(path, 0, 2, "gzip", "", false, true, "utf-8").status().code(),
            StatusCode::kInvalid);
}

// ---- errors --------------------------------------------------------------------------------

TEST_F(TextIoTest, MissingFile) {
  const std::string path = (dir_ / "missing.txt").string();
  Result<StringList> r = ReadText(path, 0, -1, "", "", false, false, "utf-8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_EQ(ErrorTypeOf(r.status()), "FileNotFoundError");
  EXPECT_EQ(r.status().message(), "[Errno 2] No such file or directory: '" + path + "'");
  EXPECT_EQ(ErrorTypeOf(ReadBlock(path, 0, 10, "", "\n").status()), "FileNotFoundError");
}

TEST_F(TextIoTest, DirectoryError) {
  Result<Buffer> dir = ReadBlock(dir_.string(), 0, -1, "", "\n");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(ErrorTypeOf(dir.status()), "IsADirectoryError");
  EXPECT_EQ(dir.status().message(), "[Errno 21] Is a directory: '" + dir_.string() + "'");
}

TEST_F(TextIoTest, PermissionError) {
  const std::string path = Write("secret.txt", "x\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  auto denied_as_python_says = [&] {
    Result<Buffer> denied = ReadBlock(path, 0, -1, "", "\n");
    return !denied.ok() && ErrorTypeOf(denied.status()) == "PermissionError" &&
           denied.status().message() == "[Errno 13] Permission denied: '" + path + "'";
  };
  if (::geteuid() != 0) {
    EXPECT_TRUE(denied_as_python_says());
    return;
  }
  // Root reads any file: check as user nobody, in a child process.
  EXPECT_EXIT(
      {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::_Exit(2);
        std::_Exit(denied_as_python_says() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(PyQuote, EscapesAsPythonRepr) {
  // repr(b"a'\\\n\r\t\x00\x7f\x80\xff\"") and repr("it's") / repr("a'\"é\x01") in CPython.
  const char bytes[] = "a'\\\n\r\t\x00\x7f\x80\xff\"";
  EXPECT_EQ("b" + internal::PyQuote(std::string_view(bytes, sizeof(bytes) - 1), '\'',
                                    /*escape_high_bytes=*/true),
            R"(b'a\'\\\n\r\t\x00\x7f\x80\xff"')");
  EXPECT_EQ(internal::PyRepr("it's"), R"("it's")");
  EXPECT_EQ(internal::PyRepr("a'\"\xc3\xa9\x01"), R"('a\'"é\x01')");
}

TEST_F(TextIoTest, InvalidUtf8NamesFileAndOffset) {
  // b"abc\n" * 1027 + b"x\xffy\n": Dask's block at 4090 starts at 4092 and its decode fails
  // with "'utf-8' codec can't decode byte 0xff in position 17: invalid start byte".
  std::string text;
  for (int i = 0; i < 1027; ++i) text += "abc\n";
  text += "x\xffy\n";
  const std::string path = Write("bad.txt", text);
  Result<StringList> r = ReadText(path, 4090, 100, "", "", false, true, "utf-8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(ErrorTypeOf(r.status()), "UnicodeDecodeError");
  EXPECT_EQ(r.status().message(),
            "'utf-8' codec can't decode byte 0xff in position 17: invalid start byte (file '" +
                path + "', byte offset 4109)");
  // Read whole, the position is the file offset.
  r = ReadText(path, 0, -1, "", "", false, false, "utf-8");
  EXPECT_EQ(r.status().message(),
            "'utf-8' codec can't decode byte 0xff in position 4109: invalid start byte (file '" +
                path + "', byte offset 4109)");
}

TEST_F(TextIoTest, Utf8ErrorsFollowPython) {
  // bytes.decode("utf-8") on each input raised these (CPython 3.11).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff", "byte 0xff in position 0: invalid start byte"},
      {"ab\xe2\x82", "bytes in position 2-3: unexpected end of data"},
      {"\xe2\x82" "a", "bytes in position 0-1: invalid continuation byte"},
      {"\xe2" "a", "byte 0xe2 in position 0: invalid continuation byte"},
      {"\xc0\x80", "byte 0xc0 in position 0: invalid start byte"},
      {"\xc1\xbf", "byte 0xc1 in position 0: invalid start byte"},
      {"\xe0\x80\x80", "byte 0xe0 in position 0: invalid continuation byte"},
      {"\xe0\x9f\xbf", "byte 0xe0 in position 0: invalid continuation byte"},
      {"\xed\xa0\x80", "byte 0xed in position 0: invalid continuation byte"},
      {"\xed\x9f\xbf\xed\xbf", "byte 0xed in position 3: invalid continuation byte"},
      {"\xf4\x90\x80\x80", "byte 0xf4 in position 0: invalid continuation byte"},
      {"\xf0\x80", "byte 0xf0 in position 0: invalid continuation byte"},
      {"\xf0\x90\x80", "bytes in position 0-2: unexpected end of data"},
      {"\xf0\x90\x80x", "bytes in position 0-2: invalid continuation byte"},
      {"\xf5", "byte 0xf5 in position 0: invalid start byte"},
      {"\x80", "byte 0x80 in position 0: invalid start byte"},
      {"\xf4\x8f\xbf", "bytes in position 0-2: unexpected end of data"},
      {"\xe0", "byte 0xe0 in position 0: unexpected end of data"},
      {"0123456789abcdef\xff", "byte 0xff in position 16: invalid start byte"},
  };
  for (const auto& [bytes, words] : cases) {
    const std::string path = Write("u.txt", bytes);
    Result<StringList> r = ReadText(path, 0, -1, "", "", false, false, "utf-8");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message().rfind("'utf-8' codec can't decode " + words + " (file", 0), 0u)
        << r.status().message();
  }
  // Valid edge cases: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF.
  const std::string valid =
      "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
      "\xf4\x8f\xbf\xbf";
  const std::string path = Write("valid.txt", valid);
  Result<StringList> r = ReadText(path, 0, -1, "", "", false, false, "utf8");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ToLines(r.ValueUnsafe()), Lines{valid});
}

TEST_F(TextIoTest, Encodings) {
  // dask: read_text(f, encoding="latin-1") of b"caf\xe9\n\xff" is ['café\n', 'ÿ'], with or
  // without a blocksize; encoding="ascii" raises "'ascii' codec can't decode byte 0xe9 in
  // position 3: ordinal not in range(128)".
  const std::string path = Write("l1.txt", "caf\xe9\n\xff");
  for (const char* name : {"latin-1", "latin1", "ISO-8859-1", "iso8859_1", "L1", "ISO8859.1",
                           "iso-ir-100"}) {
    for (int64_t blocksize : {-1, 3}) {
      Result<Lines> r = DaskLines(path, 6, blocksize, std::nullopt, name);
      ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
      EXPECT_EQ(r.ValueUnsafe(), (Lines{"caf\xc3\xa9\n", "\xc3\xbf"})) << name;
    }
  }
  Result<StringList> ascii = ReadText(path, 0, -1, "", "", false, false, "US-ASCII");
  ASSERT_FALSE(ascii.ok());
  EXPECT_EQ(ErrorTypeOf(ascii.status()), "UnicodeDecodeError");
  EXPECT_EQ(ascii.status().message().rfind(
                "'ascii' codec can't decode byte 0xe9 in position 3: ordinal not in range(128)",
                0),
            0u)
      << ascii.status().message();

  const std::string plain = Write("plain.txt", "hi\n");
  // codecs.lookup(name).name is utf-8, ascii or iso8859-1 for these:
  for (const char* name : {"utf-8", "UTF-8", "utf8", "U8", "utf", "Utf_8", "utf 8", "-UTF-8-",
                           "cp65001", "UTF8_ucs2", "ascii", "646", "us_ascii", "US_ASCII",
                           "ansi_x3.4.1968", "latin", "8859"}) {
    EXPECT_TRUE(IsNativeEncoding(name)) << name;
    Result<StringList> r = ReadText(plain, 0, -1, "", "", false, false, name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  }
  // ... and another codec, or none (LookupError), for these: Python decodes them.
  for (const char* name : {"utf-8-sig", "utf-16", "cp1252", "utf.8", "latin.1",
                           "iso_646.irv.1991", "", "\xc3\xa9utf8"}) {
    EXPECT_FALSE(IsNativeEncoding(name)) << name;
    EXPECT_EQ(ReadText(plain, 0, -1, "", "", false, false, name).status().code(),
              StatusCode::kNotImplemented)
        << name;
  }
}

TEST_F(TextIoTest, Utf8BomIsKept) {
  // dask: [b'\xef\xbb\xbfhi\n', b'there'] (the "utf-8" codec keeps a BOM).
  const std::string path = Write("bom.txt", "\xef\xbb\xbfhi\nthere");
  Result<StringList> r = ReadText(path, 0, -1, "", "", false, false, "utf-8");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToLines(r.ValueUnsafe()), (Lines{"\xef\xbb\xbfhi\n", "there"}));
}

// ---- compression ---------------------------------------------------------------------------

std::string Gzip(std::string_view data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Bzip2(std::string_view data) {
  std::string out(data.size() + data.size() / 100 + 1024, '\0');
  auto n = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(data.data()),
                                     static_cast<unsigned>(data.size()), 9, 0, 0),
            BZ_OK);
  out.resize(n);
  return out;
}

std::string Xz(std::string_view data) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                                    reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                    reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

std::string Zstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

struct Codec {
  const char* name;
  std::string (*compress)(std::string_view);
};
const Codec kCodecs[] = {{"gzip", Gzip}, {"bz2", Bzip2}, {"xz", Xz}, {"zstd", Zstd}};

TEST_F(TextIoTest, CompressedFilesAreReadWhole) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "line " + std::to_string(i) + "\r\n";
  const std::string path_plain = Write("plain.txt", text);
  Result<StringList> expected = ReadText(path_plain, 0, -1, "", "", false, false, "utf-8");
  ASSERT_TRUE(expected.ok());
  for (const Codec& codec : kCodecs) {
    SCOPED_TRACE(codec.name);
    const std::string path = Write(std::string("c.") + codec.name, codec.compress(text));
    Result<Buffer> bytes = ReadBlock(path, 0, -1, codec.name, "");
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_TRUE(bytes.ValueUnsafe().view() == text);
    Result<StringList> lines = ReadText(path, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_TRUE(lines.ok()) << lines.status().ToString();
    EXPECT_TRUE(ToLines(lines.ValueUnsafe()) == ToLines(expected.ValueUnsafe()));
    EXPECT_EQ(lines.ValueUnsafe().size(), 200000u);
    EXPECT_EQ(lines.ValueUnsafe()[1], "line 1\n");

    // Concatenated members / streams / frames are read one after another.
    const std::string two = Write(std::string("two.") + codec.name,
                                  codec.compress("first\n") + codec.compress("second\n"));
    Result<StringList> both = ReadText(two, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_TRUE(both.ok()) << both.status().ToString();
    EXPECT_EQ(ToLines(both.ValueUnsafe()), (Lines{"first\n", "second\n"}));

    // An empty file holds no lines (Python's modules read it as b"").
    const std::string empty = Write(std::string("empty.") + codec.name, "");
    Result<StringList> none = ReadText(empty, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_EQ(none.ValueUnsafe().size(), 0u);

    // Truncated: Python raises EOFError("Compressed file ended before the end-of-stream
    // marker was reached").
    const std::string whole = codec.compress(text);
    const std::string cut = Write(std::string("cut.") + codec.name,
                                  whole.substr(0, whole.size() / 2));
    Result<StringList> truncated = ReadText(cut, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_FALSE(truncated.ok());
    EXPECT_EQ(ErrorTypeOf(truncated.status()), "EOFError");
    EXPECT_EQ(truncated.status().message(),
              "Compressed file ended before the end-of-stream marker was reached (file '" + cut +
                  "')");

    // A decode error's offset is in the decompressed stream.
    const std::string bad = Write(std::string("bad.") + codec.name, codec.compress("ok\n\xff"));
    Result<StringList> undecodable = ReadText(bad, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_FALSE(undecodable.ok());
    EXPECT_EQ(undecodable.status().message(),
              "'utf-8' codec can't decode byte 0xff in position 3: invalid start byte (file '" +
                  bad + "', decompressed byte offset 3)");
  }
}

TEST_F(TextIoTest, GzipLikePython) {
  // Python's gzip module (and so Dask): zero padding after the last member is fine ...
  const std::string padded = Write("padded.gz", Gzip("a\nb\n") + std::string(5, '\0'));
  Result<StringList> r = ReadText(padded, 0, -1, "gzip", "", false, false, "utf-8");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ToLines(r.ValueUnsafe()), (Lines{"a\n", "b\n"}));
  // ... other trailing bytes raise BadGzipFile "Not a gzipped file (b'ga')" (an OSError) ...
  const std::string garbage = Write("garbage.gz", Gzip("a\n") + "garbage");
  r = ReadText(garbage, 0, -1, "gzip", "", false, false, "utf-8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorTypeOf(r.status()), "OSError");
  EXPECT_EQ(r.status().message(), "Not a gzipped file (b'ga') (file '" + garbage + "')");
  // ... as does a file that is not gzip at all.
  const std::string text = Write("text.gz", "hello world\n");
  r = ReadText(text, 0, -1, "gzip", "", false, false, "utf-8");
  EXPECT_EQ(r.status().message(), "Not a gzipped file (b'he') (file '" + text + "')");
  // Corrupt data.
  std::string data;
  for (int i = 0; i < 20000; ++i) data += "line " + std::to_string(i) + "\n";
  std::string gz = Gzip(data);
  gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0xff);
  gz[gz.size() / 2 + 1] = static_cast<char>(gz[gz.size() / 2 + 1] ^ 0x55);
  const std::string corrupt = Write("corrupt.gz", gz);
  r = ReadText(corrupt, 0, -1, "gzip", "", false, false, "utf-8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorTypeOf(r.status()), "OSError");
  EXPECT_EQ(r.status().message().rfind("Error decompressing gzip data: ", 0), 0u)
      << r.status().message();
  EXPECT_NE(r.status().message().find(corrupt), std::string::npos);
}

TEST_F(TextIoTest, Bz2AndXzIgnoreTrailingGarbageLikePython) {
  // Python's bz2 and lzma modules stop at data that does not start a stream.
  for (const Codec& codec : {kCodecs[1], kCodecs[2]}) {
    const std::string path =
        Write(std::string("g.") + codec.name, codec.compress("a\nb\n") + "garbage");
    Result<StringList> r = ReadText(path, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_TRUE(r.ok()) << codec.name << ": " << r.status().ToString();
    EXPECT_EQ(ToLines(r.ValueUnsafe()), (Lines{"a\n", "b\n"}));
    // Garbage from the start is an error.
    const std::string junk = Write(std::string("junk.") + codec.name, "not compressed\n");
    r = ReadText(junk, 0, -1, codec.name, "", false, false, "utf-8");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(ErrorTypeOf(r.status()), "OSError") << r.status().ToString();
  }
}

}  // namespace
}  // namespace tegu::bag
