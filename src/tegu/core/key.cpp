#include "tegu/key.hpp"

#include <cctype>

namespace tegu {

Key Key::Tuple(std::vector<KeyPart> parts) {
  Key key;
  key.parts_ = std::move(parts);
  key.is_tuple_ = true;
  return key;
}

const std::string& Key::name() const {
  static const std::string kEmpty;
  for (const KeyPart& part : parts_) {
    if (auto* s = std::get_if<std::string>(&part)) return *s;
  }
  return kEmpty;
}

namespace {
void AppendQuoted(const std::string& s, std::string* out) {
  out->push_back('\'');
  for (char c : s) {
    if (c == '\'' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('\'');
}
}  // namespace

std::string Key::ToString() const {
  if (!is_tuple_) return name();
  std::string out = "(";
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i > 0) out += ", ";
    if (auto* s = std::get_if<std::string>(&parts_[i])) {
      AppendQuoted(*s, &out);
    } else {
      out += std::to_string(std::get<int64_t>(parts_[i]));
    }
  }
  if (parts_.size() == 1) out += ",";
  out += ")";
  return out;
}

std::string Key::Prefix() const {
  // As dask.utils.key_split: keep the first word, then each following word while it is purely
  // alphabetic and not an 8-letter hex token ("x-abcdefab"); a word such as '1', '5f2a' or 'x1'
  // ends the prefix.
  const std::string& s = name();
  std::string out;
  size_t start = 0;
  bool first = true;
  while (start <= s.size()) {
    size_t end = s.find('-', start);
    if (end == std::string::npos) end = s.size();
    std::string word = s.substr(start, end - start);
    if (!first) {
      bool is_alpha = !word.empty();
      bool is_hex_letters = word.size() == 8;
      for (char c : word) {
        if (!std::isalpha(static_cast<unsigned char>(c))) is_alpha = false;
        if (c < 'a' || c > 'f') is_hex_letters = false;
      }
      if (!is_alpha || is_hex_letters) break;
      out += '-';
    }
    out += word;
    first = false;
    start = end + 1;
  }
  return out;
}

size_t Key::Hash() const {
  size_t h = is_tuple_ ? 0x9e3779b97f4a7c15ULL : 0;
  for (const KeyPart& part : parts_) {
    size_t ph = std::visit([](const auto& v) { return std::hash<std::decay_t<decltype(v)>>{}(v); },
                           part);
    h ^= ph + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

}  // namespace tegu
