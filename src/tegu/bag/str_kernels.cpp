// The `.str` kernels of a text bag (lower, upper, strip, split, replace, match), flatten and
// the fused split + frequencies of word counting. Each follows CPython's str method of the same
// name exactly; the comments cite the CPython code where its behaviour is not obvious.
#include <locale.h>
#include <wctype.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tegu/bag/glob_pattern_internal.hpp"
#include "tegu/bag/kernels.hpp"
#include "tegu/bag/text_kernels_internal.hpp"
#include "tegu/native.hpp"

namespace tegu::bag {
namespace internal {

namespace {

constexpr ByteClass W = ByteClass::kWord;
constexpr ByteClass S = ByteClass::kSpace;
constexpr ByteClass M = ByteClass::kMaybeSpace;

bool IsAscii(const unsigned char* p, size_t n) {
  // Eight bytes at a time: the high bit of any byte is set iff the word has a non-ASCII byte.
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    if (word & 0x8080808080808080ull) return false;
  }
  for (; i < n; ++i) {
    if (p[i] & 0x80) return false;
  }
  return true;
}

// ---- lower / upper ----

// The C.UTF-8 locale for towlower_l/towupper_l, created once and never freed (it is shared by
// every thread); null if the system has none, in which case non-ASCII code points are kept.
locale_t Utf8Locale() {
  static const locale_t locale = [] {
    for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"}) {
      if (locale_t l = newlocale(LC_CTYPE_MASK, name, static_cast<locale_t>(nullptr))) return l;
    }
    return static_cast<locale_t>(nullptr);
  }();
  return locale;
}

void MapCaseFallback(std::string_view in, bool upper, std::string* out) {
  const locale_t locale = Utf8Locale();
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const auto* end = p + in.size();
  while (p < end) {
    char32_t c = DecodeUtf8(&p, end);
    if (c < 0x80) {
      if (upper && c >= 'a' && c <= 'z') c -= 32;
      if (!upper && c >= 'A' && c <= 'Z') c += 32;
    } else if (locale != nullptr && !(c >= 0xD800 && c <= 0xDFFF)) {
      const wint_t mapped = upper ? towupper_l(static_cast<wint_t>(c), locale)
                                  : towlower_l(static_cast<wint_t>(c), locale);
      c = static_cast<char32_t>(mapped);
    }
    AppendUtf8(c, out);
  }
}

StringList MapCase(const StringList& strings, bool upper) {
  const char lo = upper ? 'a' : 'A';
  const int delta = upper ? -32 : 32;
  auto map_ascii = [&](const char* p, size_t n, char* out) {
    for (size_t i = 0; i < n; ++i) {
      const char c = p[i];
      out[i] = static_cast<unsigned char>(c - lo) < 26 ? static_cast<char>(c + delta) : c;
    }
  };
  const std::vector<int64_t>& offsets = strings.offsets();
  const int64_t begin = offsets.front();
  const size_t bytes = static_cast<size_t>(strings.byte_size());
  const char* data = reinterpret_cast<const char*>(strings.data().data());

  if (IsAscii(reinterpret_cast<const unsigned char*>(data) + begin, bytes)) {
    // All ASCII (the common case): one pass over the bytes; the lengths do not change.
    std::string out(bytes, '\0');
    map_ascii(data + begin, bytes, out.data());
    auto owner = std::make_shared<std::string>(std::move(out));
    Buffer buffer(owner, reinterpret_cast<const uint8_t*>(owner->data()), owner->size());
    if (begin == 0) return StringList(std::move(buffer), strings.shared_offsets());
    std::vector<int64_t> shifted(offsets);
    for (int64_t& o : shifted) o -= begin;
    return StringList(std::move(buffer),
                      std::make_shared<const std::vector<int64_t>>(std::move(shifted)));
  }

  // The non-ASCII strings go to the mapper in one batch.
  std::vector<bool> ascii(strings.size());
  std::vector<std::string_view> others;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string_view s = strings[i];
    ascii[i] = IsAscii(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    if (!ascii[i]) others.push_back(s);
  }
  std::vector<std::optional<std::string>> mapped;
  if (const CaseMapper mapper = GetCaseMapper(); mapper != nullptr) mapper(others, upper, &mapped);
  mapped.resize(others.size());

  StringListBuilder builder;
  builder.Reserve(strings.size(), bytes + bytes / 8);
  size_t next_other = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string_view s = strings[i];
    std::string& out = builder.bytes();
    if (ascii[i]) {
      const size_t at = out.size();
      out.resize(at + s.size());
      map_ascii(s.data(), s.size(), out.data() + at);
    } else if (const std::optional<std::string>& m = mapped[next_other++]; m.has_value()) {
      out.append(*m);
    } else {
      MapCaseFallback(s, upper, &out);
    }
    builder.FinishString();
  }
  return builder.Finish();
}

// ---- strip ----

// A set of code points: a table for ASCII, a sorted vector for the rest.
class CharSet {
 public:
  explicit CharSet(std::string_view chars) {
    const auto* p = reinterpret_cast<const unsigned char*>(chars.data());
    const auto* end = p + chars.size();
    while (p < end) {
      const char32_t c = DecodeUtf8(&p, end);
      if (c < 0x80) {
        ascii_[c] = true;
      } else {
        others_.push_back(c);
      }
    }
    std::sort(others_.begin(), others_.end());
  }
  bool ascii_only() const { return others_.empty(); }
  bool ContainsAscii(unsigned char c) const { return c < 0x80 && ascii_[c]; }
  bool Contains(char32_t c) const {
    if (c < 0x80) return ascii_[c];
    return std::binary_search(others_.begin(), others_.end(), c);
  }

 private:
  bool ascii_[128] = {};
  std::vector<char32_t> others_;
};

// The code point that ends just before `end` (at least one byte after `begin`) and its length.
char32_t DecodeLast(const unsigned char* begin, const unsigned char* end, int* length) {
  const unsigned char* q = end - 1;
  while (q > begin && (*q & 0xC0) == 0x80 && end - q < 4) --q;
  const unsigned char* p = q;
  const char32_t c = DecodeUtf8(&p, end);
  if (p == end) {
    *length = static_cast<int>(end - q);
    return c;
  }
  *length = 1;  // not a whole sequence: the last byte on its own (see DecodeUtf8)
  return 0xDC00 + end[-1];
}

template <class InSet>
std::string_view StripWith(std::string_view s, int64_t side, InSet&& in_set) {
  const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = begin + s.size();
  if (side != 2) {
    while (begin < end) {
      const unsigned char* p = begin;
      if (!in_set(DecodeUtf8(&p, end))) break;
      begin = p;
    }
  }
  if (side != 1) {
    while (end > begin) {
      int length = 0;
      if (!in_set(DecodeLast(begin, end, &length))) break;
      end -= length;
    }
  }
  return {reinterpret_cast<const char*>(begin), static_cast<size_t>(end - begin)};
}

std::string_view StripAsciiTable(std::string_view s, int64_t side, const bool* table) {
  size_t b = 0;
  size_t e = s.size();
  if (side != 2) {
    while (b < e && table[static_cast<unsigned char>(s[b])]) ++b;
  }
  if (side != 1) {
    while (e > b && table[static_cast<unsigned char>(s[e - 1])]) --e;
  }
  return s.substr(b, e - b);
}

// ---- the word scanner of split_frequencies ----

// Bit i of *space is set if byte i of the 64 at `block` is ASCII whitespace; bit i of *high if
// it is 0x80 or above (it may start non-ASCII whitespace).
inline void ClassifyBlock(const unsigned char* block, uint64_t* space, uint64_t* high) {
#if defined(__SSE2__)
  uint64_t s = 0;
  uint64_t h = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i));
    // Python's ASCII whitespace is 0x09-0x0D and 0x1C-0x20: two unsigned range checks, each
    // x - lo <= hi - lo done as min(x - lo, hi - lo) == x - lo.
    const __m128i t1 = _mm_sub_epi8(x, _mm_set1_epi8(0x09));
    const __m128i m1 = _mm_cmpeq_epi8(_mm_min_epu8(t1, _mm_set1_epi8(0x0D - 0x09)), t1);
    const __m128i t2 = _mm_sub_epi8(x, _mm_set1_epi8(0x1C));
    const __m128i m2 = _mm_cmpeq_epi8(_mm_min_epu8(t2, _mm_set1_epi8(0x20 - 0x1C)), t2);
    s |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_or_si128(m1, m2))))
         << (16 * i);
    h |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(x))) << (16 * i);
  }
  *space = s;
  *high = h;
#else
  uint64_t s = 0;
  uint64_t h = 0;
  for (int i = 0; i < 64; ++i) {
    s |= static_cast<uint64_t>(kByteClass[block[i]] == ByteClass::kSpace) << i;
    h |= static_cast<uint64_t>(block[i] >> 7) << i;
  }
  *space = s;
  *high = h;
#endif
}

// Calls emit(std::string_view) for every item of s.split() of every string s in `strings`, in
// order: the words SplitWhitespace(strings[i], -1, emit) finds for each i, but found 64 bytes
// at a time over the partition's whole byte range, as bit masks (whitespace, string starts)
// whose transitions are the word boundaries. Branching per byte, as SplitWhitespace does,
// costs a misprediction per word; this does not.
template <class Emit>
void ForEachWhitespaceWord(const StringList& strings, Emit&& emit) {
  const std::vector<int64_t>& offsets = strings.offsets();
  const auto* data = reinterpret_cast<const unsigned char*>(strings.data().data());
  const int64_t end = offsets.back();
  const size_t last = offsets.size() - 1;
  size_t next_start = 1;  // offsets[next_start] is the next string start to mark
  int64_t word_start = 0;
  uint64_t prev_word = 0;    // whether the byte before this block is in a word
  uint64_t space_carry = 0;  // the tail of a multi-byte space that began in the last block
  alignas(16) unsigned char padded[64];
  for (int64_t base = offsets.front(); base < end; base += 64) {
    const unsigned char* block = data + base;
    const int64_t n = std::min<int64_t>(64, end - base);
    if (n < 64) {  // the last block: pad with spaces rather than read past the data
      std::memcpy(padded, block, static_cast<size_t>(n));
      std::memset(padded + n, ' ', static_cast<size_t>(64 - n));
      block = padded;
    }
    uint64_t space;
    uint64_t high;
    ClassifyBlock(block, &space, &high);
    space |= space_carry;
    space_carry = 0;
    uint64_t starts_here = 0;
    const size_t block_first = next_start;  // offsets[block_first - 1] <= base
    while (next_start < last && offsets[next_start] < base + 64) {
      starts_here |= uint64_t{1} << (offsets[next_start] - base);
      ++next_start;
    }
    while (high != 0) {  // rare in most text: check the bytes that may start U+0085 etc.
      const int i = std::countr_zero(high);
      high &= high - 1;
      if (kByteClass[block[i]] != ByteClass::kMaybeSpace) continue;
      // A code point does not continue into the next string.
      const int64_t at = base + i;
      const int64_t string_end = *std::upper_bound(
          offsets.begin() + static_cast<ptrdiff_t>(block_first), offsets.end(), at);
      const int len = UnicodeSpaceLength(data + at, data + string_end);
      if (len == 0) continue;
      const uint64_t bits = (uint64_t{1} << len) - 1;  // len <= 3
      space |= bits << i;
      if (i + len > 64) space_carry = bits >> (64 - i);
    }
    const uint64_t word = ~space;
    const uint64_t prev = (word << 1) | prev_word;
    const uint64_t starts = word & ~(prev & ~starts_here);
    const uint64_t ends = prev & (~word | starts_here);
    prev_word = word >> 63;
    uint64_t events = starts | ends;
    while (events != 0) {
      const int i = std::countr_zero(events);
      const uint64_t bit = events & (~events + 1);
      events &= events - 1;
      if (ends & bit) {
        emit(std::string_view(reinterpret_cast<const char*>(data) + word_start,
                              static_cast<size_t>(base + i - word_start)));
      }
      if (starts & bit) word_start = base + i;
    }
  }
  if (prev_word != 0) {
    emit(std::string_view(reinterpret_cast<const char*>(data) + word_start,
                          static_cast<size_t>(end - word_start)));
  }
}

void CheckSide(int64_t side) {
  if (side < 0 || side > 2) {
    throw StatusError(Status::Invalid("tegu.bag.str_strip: side must be 0 (both), 1 (left) or 2 "
                                      "(right), not " + std::to_string(side)));
  }
}

void CheckSeparator(bool has_sep, std::string_view sep) {
  if (has_sep && sep.empty()) throw StatusError(Status::Invalid("ValueError: empty separator"));
}

}  // namespace

// ByteClass for every byte value (see text_kernels_internal.hpp).
const ByteClass kByteClass[256] = {
    W, W, W, W, W, W, W, W, W, S, S, S, S, S, W, W,  // 0x00: \t \n \v \f \r
    W, W, W, W, W, W, W, W, W, W, W, W, S, S, S, S,  // 0x10: \x1c-\x1f
    S, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x20: space
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x30
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x40
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x50
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x60
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x70
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x80
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x90
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xA0
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xB0
    W, W, M, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xC0: 0xC2
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xD0
    W, M, M, M, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xE0: 0xE1-0xE3
    W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0xF0
};

bool IsPyWhitespace(char32_t c) {
  if (c < 0x80) return kByteClass[c] == ByteClass::kSpace;
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

void DecodeUtf8(std::string_view s, std::u32string* out) {
  out->clear();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) out->push_back(DecodeUtf8(&p, end));
}

StringList OwnStringList(std::string bytes, std::vector<int64_t> offsets) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  Buffer data(owner, reinterpret_cast<const uint8_t*>(owner->data()), owner->size());
  return StringList(std::move(data),
                    std::make_shared<const std::vector<int64_t>>(std::move(offsets)));
}

StringList MakeStringList(const std::vector<std::string_view>& strings) {
  size_t bytes = 0;
  for (std::string_view s : strings) bytes += s.size();
  std::string data;
  data.reserve(bytes);
  std::vector<int64_t> offsets;
  offsets.reserve(strings.size() + 1);
  offsets.push_back(0);
  for (std::string_view s : strings) {
    data.append(s);
    offsets.push_back(static_cast<int64_t>(data.size()));
  }
  return OwnStringList(std::move(data), std::move(offsets));
}

void WordCounter::Rehash(size_t capacity) {
  size_t size = 64;
  while (size < capacity) size *= 2;
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(size, Slot{0, 0, 0, 0, 0}));
  mask_ = size - 1;
  for (const Slot& slot : old) {
    if (slot.entry == 0) continue;
    size_t i = MakeKey(words_[slot.entry - 1]).hash & mask_;
    while (slots_[i].entry != 0) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

std::vector<int64_t> WordCounter::Counts() const {
  std::vector<int64_t> counts(words_.size());
  for (const Slot& slot : slots_) {
    if (slot.entry != 0) counts[slot.entry - 1] = slot.count;
  }
  return counts;
}

StringCounts WordCounter::Finish(const std::vector<uint32_t>* order) const {
  std::vector<int64_t> counts = Counts();
  if (order == nullptr) {
    return StringCounts(MakeStringList(words_),
                        std::make_shared<const std::vector<int64_t>>(std::move(counts)));
  }
  std::vector<std::string_view> words;
  std::vector<int64_t> ordered;
  words.reserve(order->size());
  ordered.reserve(order->size());
  for (uint32_t i : *order) {
    words.push_back(words_[i]);
    ordered.push_back(counts[i]);
  }
  return StringCounts(MakeStringList(words),
                      std::make_shared<const std::vector<int64_t>>(std::move(ordered)));
}

StringList StrLower(const StringList& strings) { return MapCase(strings, false); }
StringList StrUpper(const StringList& strings) { return MapCase(strings, true); }

StringList StrStrip(const StringList& strings, std::string_view chars, bool has_chars,
                    int64_t side) {
  CheckSide(side);
  StringListBuilder builder;
  builder.Reserve(strings.size(), static_cast<size_t>(strings.byte_size()));
  if (!has_chars) {
    bool table[256] = {};
    for (int c = 0; c < 0x80; ++c) table[c] = kByteClass[c] == ByteClass::kSpace;
    for (size_t i = 0; i < strings.size(); ++i) {
      const std::string_view s = strings[i];
      // ASCII whitespace is by far the common case; only a non-ASCII byte at either end can
      // start or end Unicode whitespace.
      std::string_view stripped = StripAsciiTable(s, side, table);
      if (!stripped.empty() && ((static_cast<unsigned char>(stripped.front()) & 0x80) ||
                                (static_cast<unsigned char>(stripped.back()) & 0x80))) {
        stripped = StripWith(s, side, IsPyWhitespace);
      }
      builder.Append(stripped);
    }
    return builder.Finish();
  }
  const CharSet set(chars);
  if (set.ascii_only()) {
    // An ASCII character never matches a byte of a multi-byte sequence: strip bytes.
    bool table[256] = {};
    for (int c = 0; c < 0x80; ++c) table[c] = set.ContainsAscii(static_cast<unsigned char>(c));
    for (size_t i = 0; i < strings.size(); ++i) {
      builder.Append(StripAsciiTable(strings[i], side, table));
    }
    return builder.Finish();
  }
  for (size_t i = 0; i < strings.size(); ++i) {
    builder.Append(StripWith(strings[i], side, [&](char32_t c) { return set.Contains(c); }));
  }
  return builder.Finish();
}

StringLists StrSplit(const StringList& strings, std::string_view sep, bool has_sep,
                     int64_t maxsplit) {
  CheckSeparator(has_sep, sep);
  StringListBuilder builder;
  // A guess at the number of pieces: a word of ~7 bytes and a separator.
  const size_t bytes = static_cast<size_t>(strings.byte_size());
  builder.Reserve(strings.size() + bytes / 8, bytes);
  std::vector<int64_t> list_offsets;
  list_offsets.reserve(strings.size() + 1);
  list_offsets.push_back(0);
  auto emit = [&](std::string_view piece) { builder.Append(piece); };
  for (size_t i = 0; i < strings.size(); ++i) {
    if (has_sep) {
      SplitSeparator(strings[i], sep, maxsplit, emit);
    } else {
      SplitWhitespace(strings[i], maxsplit, emit);
    }
    list_offsets.push_back(static_cast<int64_t>(builder.size()));
  }
  return StringLists(builder.Finish(),
                     std::make_shared<const std::vector<int64_t>>(std::move(list_offsets)));
}

StringList StrReplace(const StringList& strings, std::string_view old, std::string_view new_,
                      int64_t count) {
  const uint64_t limit = count < 0 ? UINT64_MAX : static_cast<uint64_t>(count);
  StringListBuilder builder;
  builder.Reserve(strings.size(), static_cast<size_t>(strings.byte_size()));
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string_view s = strings[i];
    std::string& out = builder.bytes();
    uint64_t done = 0;
    if (old.empty()) {
      // CPython's replace_interleave: `new_` before every code point and at the end.
      const auto* p = reinterpret_cast<const unsigned char*>(s.data());
      const auto* end = p + s.size();
      while (p < end && done < limit) {
        out.append(new_);
        ++done;
        const unsigned char* start = p;
        DecodeUtf8(&p, end);
        out.append(reinterpret_cast<const char*>(start), static_cast<size_t>(p - start));
      }
      if (p < end) {
        out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p));
      } else if (done < limit) {
        out.append(new_);
      }
    } else {
      size_t start = 0;
      while (done < limit) {
        const size_t pos = s.find(old, start);
        if (pos == std::string_view::npos) break;
        out.append(s.substr(start, pos - start));
        out.append(new_);
        start = pos + old.size();
        ++done;
      }
      out.append(s.substr(start));
    }
    builder.FinishString();
  }
  return builder.Finish();
}

StringList StrMatch(const StringList& strings, std::string_view pattern) {
  const GlobPattern glob(pattern);
  StringListBuilder builder;
  std::u32string decoded;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string_view s = strings[i];
    DecodeUtf8(s, &decoded);
    if (glob.Match(decoded)) builder.Append(s);
  }
  return builder.Finish();
}

StringList FlattenLists(const StringLists& lists) { return lists.strings(); }

StringCounts SplitFrequencies(const StringList& strings, std::string_view sep, bool has_sep,
                              int64_t maxsplit) {
  CheckSeparator(has_sep, sep);
  WordCounter counter(1024);
  auto emit = [&](std::string_view word) { counter.Add(word); };
  const size_t n = strings.size();
  if (has_sep) {
    for (size_t i = 0; i < n; ++i) SplitSeparator(strings[i], sep, maxsplit, emit);
  } else if (maxsplit < 0) {
    ForEachWhitespaceWord(strings, emit);
  } else {
    for (size_t i = 0; i < n; ++i) SplitWhitespace(strings[i], maxsplit, emit);
  }
  return counter.Finish();
}

}  // namespace internal

void RegisterStrKernels() {
  RegisterNative("tegu.bag.str_lower", [](StringList s) { return internal::StrLower(s); });
  RegisterNative("tegu.bag.str_upper", [](StringList s) { return internal::StrUpper(s); });
  RegisterNative("tegu.bag.str_strip",
                 [](StringList s, std::string chars, bool has_chars, int64_t side) {
                   return internal::StrStrip(s, chars, has_chars, side);
                 });
  RegisterNative("tegu.bag.str_split",
                 [](StringList s, std::string sep, bool has_sep, int64_t maxsplit) {
                   return internal::StrSplit(s, sep, has_sep, maxsplit);
                 });
  RegisterNative("tegu.bag.str_replace",
                 [](StringList s, std::string old, std::string new_, int64_t count) {
                   return internal::StrReplace(s, old, new_, count);
                 });
  RegisterNative("tegu.bag.str_match", [](StringList s, std::string pattern) {
    return internal::StrMatch(s, pattern);
  });
  RegisterNative("tegu.bag.flatten_lists",
                 [](StringLists lists) { return internal::FlattenLists(lists); });
  RegisterNative("tegu.bag.split_frequencies",
                 [](StringList s, std::string sep, bool has_sep, int64_t maxsplit) {
                   return internal::SplitFrequencies(s, sep, has_sep, maxsplit);
                 });
}

}  // namespace tegu::bag
