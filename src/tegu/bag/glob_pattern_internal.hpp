// GlobPattern: a shell pattern as fnmatch.fnmatch matches it on POSIX (case-sensitive), for
// the `.str.match` kernel. Private to the bag kernels (str_kernels.cpp).
//
// Thread-safety: immutable once built; Match may run concurrently.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tegu/bag/text_kernels_internal.hpp"
#include "tegu/result.hpp"

namespace tegu::bag::internal {

// A shell pattern compiled as fnmatch.translate does on CPython 3.11, then matched directly
// on code points instead of through a regular expression. Bracket expressions are rewritten
// exactly as translate() rewrites them (empty ranges dropped, a leading '!' negating) and the
// result parsed as the `re` module parses a character class, so even odd patterns such as
// "[b-a!x]" (which translate() turns into "[^x]") agree with Python.
class GlobPattern {
 public:
  explicit GlobPattern(std::string_view pattern) {
    std::u32string pat;
    DecodeUtf8(pattern, &pat);
    const size_t n = pat.size();
    size_t i = 0;
    while (i < n) {
      const char32_t c = pat[i++];
      if (c == U'*') {
        if (tokens_.empty() || tokens_.back().op != Op::kStar) tokens_.push_back({Op::kStar});
      } else if (c == U'?') {
        tokens_.push_back({Op::kAny});
      } else if (c == U'[') {
        size_t j = i;
        if (j < n && pat[j] == U'!') ++j;
        if (j < n && pat[j] == U']') ++j;
        while (j < n && pat[j] != U']') ++j;
        if (j >= n) {
          tokens_.push_back({Op::kLiteral, U'['});
        } else {
          AddBracket(pat, i, j);
          i = j + 1;
        }
      } else {
        tokens_.push_back({Op::kLiteral, c});
      }
    }
  }

  bool Match(const std::u32string& s) const {
    if (never_) return false;
    // Glob matching with backtracking to the last star (each token matches one code point).
    const size_t n = s.size();
    const size_t t = tokens_.size();
    size_t si = 0;
    size_t ti = 0;
    size_t star_ti = std::u32string::npos;
    size_t star_si = 0;
    while (si < n) {
      if (ti < t && tokens_[ti].op == Op::kStar) {
        star_ti = ti++;
        star_si = si;
      } else if (ti < t && Matches(tokens_[ti], s[si])) {
        ++ti;
        ++si;
      } else if (star_ti != std::u32string::npos) {
        ti = star_ti + 1;
        si = ++star_si;
      } else {
        return false;
      }
    }
    while (ti < t && tokens_[ti].op == Op::kStar) ++ti;
    return ti == t;
  }

 private:
  enum class Op : uint8_t { kLiteral, kAny, kClass, kStar };
  struct Token {
    Op op;
    char32_t c = 0;
    uint32_t cls = 0;
  };
  struct CharClass {
    bool negate = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;
    bool Contains(char32_t c) const {
      bool in = false;
      for (const auto& [lo, hi] : ranges) {
        if (c >= lo && c <= hi) {
          in = true;
          break;
        }
      }
      return in != negate;
    }
  };

  bool Matches(const Token& token, char32_t c) const {
    switch (token.op) {
      case Op::kLiteral:
        return token.c == c;
      case Op::kAny:
        return true;
      case Op::kClass:
        return classes_[token.cls].Contains(c);
      case Op::kStar:
        break;
    }
    return false;
  }

  [[noreturn]] static void Fail(const std::string& why) {
    throw StatusError(Status::Invalid("tegu.bag.str_match: bad pattern: " + why));
  }

  // The bracket expression pat[i:j] (between '[' and ']'), as translate() rewrites it.
  void AddBracket(const std::u32string& pat, size_t i, size_t j) {
    std::u32string stuff;
    auto escape = [](const std::u32string& s, bool hyphen, std::u32string* out) {
      for (char32_t c : s) {
        if (c == U'\\' || (hyphen && c == U'-')) out->push_back(U'\\');
        out->push_back(c);
      }
    };
    const std::u32string inner = pat.substr(i, j - i);
    if (inner.find(U'-') == std::u32string::npos) {
      escape(inner, false, &stuff);
    } else {
      std::vector<std::u32string> chunks;
      size_t k = pat[i] == U'!' ? i + 2 : i + 1;
      while (true) {
        const size_t dash = k < j ? pat.find(U'-', k) : std::u32string::npos;
        if (dash == std::u32string::npos || dash >= j) break;
        chunks.push_back(pat.substr(i, dash - i));
        i = dash + 1;
        k = dash + 3;
      }
      std::u32string chunk = pat.substr(i, j - i);
      if (!chunk.empty()) {
        chunks.push_back(std::move(chunk));
      } else {
        chunks.back() += U'-';
      }
      // Remove empty ranges (invalid in a regular expression).
      for (size_t m = chunks.size() - 1; m > 0; --m) {
        if (chunks[m - 1].empty() || chunks[m].empty()) Fail("empty range chunk");
        if (chunks[m - 1].back() > chunks[m].front()) {
          chunks[m - 1] = chunks[m - 1].substr(0, chunks[m - 1].size() - 1) + chunks[m].substr(1);
          chunks.erase(chunks.begin() + static_cast<ptrdiff_t>(m));
        }
      }
      for (size_t m = 0; m < chunks.size(); ++m) {
        if (m > 0) stuff.push_back(U'-');
        escape(chunks[m], true, &stuff);
      }
    }
    // Escape set operations (&&, ~~ and ||).
    std::u32string escaped;
    for (char32_t c : stuff) {
      if (c == U'&' || c == U'~' || c == U'|') escaped.push_back(U'\\');
      escaped.push_back(c);
    }
    stuff = std::move(escaped);
    if (stuff.empty()) {
      never_ = true;  // "(?!)": never matches
      return;
    }
    if (stuff == U"!") {
      tokens_.push_back({Op::kAny});
      return;
    }
    CharClass cls;
    if (stuff[0] == U'!') {
      cls.negate = true;
      stuff.erase(0, 1);
    } else if (stuff[0] == U'^' || stuff[0] == U'[') {
      stuff.insert(stuff.begin(), U'\\');
    }
    ParseClass(stuff + U']', &cls);
    tokens_.push_back({Op::kClass, 0, static_cast<uint32_t>(classes_.size())});
    classes_.push_back(std::move(cls));
  }

  // Parses a class body (after '[' and any '^', up to and including ']') as CPython's
  // re._parser does.
  static void ParseClass(const std::u32string& body, CharClass* cls) {
    size_t pos = 0;
    // The next token: a character, or an escaped character (escaped = true).
    auto next = [&](char32_t* c, bool* escaped) {
      if (pos >= body.size()) return false;
      *escaped = body[pos] == U'\\' && pos + 1 < body.size();
      if (*escaped) ++pos;
      *c = body[pos++];
      return true;
    };
    while (true) {
      char32_t c1;
      bool escaped1;
      if (!next(&c1, &escaped1)) Fail("unterminated character set");
      if (!escaped1 && c1 == U']' && !cls->ranges.empty()) break;
      if (pos < body.size() && body[pos] == U'-') {
        ++pos;
        char32_t c2;
        bool escaped2;
        if (!next(&c2, &escaped2)) Fail("unterminated character set");
        if (!escaped2 && c2 == U']') {
          cls->ranges.emplace_back(c1, c1);
          cls->ranges.emplace_back(U'-', U'-');
          break;
        }
        if (c2 < c1) Fail("bad character range");
        cls->ranges.emplace_back(c1, c2);
      } else {
        cls->ranges.emplace_back(c1, c1);
      }
    }
    if (pos != body.size()) Fail("unexpected ']' in a character set");
  }

  std::vector<Token> tokens_;
  std::vector<CharClass> classes_;
  bool never_ = false;
};

}  // namespace tegu::bag::internal
