// The configuration store behind tegu/config.hpp: one nlohmann::json tree per process, built
// lazily from defaults, YAML files and TEGU_* environment variables, in the same order and with
// the same merge rules as dask.config (collect_yaml, collect_env, update, update_defaults).

#include "tegu/config.hpp"

#include <unistd.h>  // environ

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace tegu::config {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The layers of later modules are registered through UpdateDefaults(); these are the ones the
// core and the local schedulers read.
constexpr std::string_view kBuiltinDefaults = R"({
  "scheduler": null,
  "num-workers": null,
  "optimization": {"fuse": {"active": true}, "inline": {"active": true}},
  "temporary-directory": null,
  "visualization": {"engine": "graphviz"}
})";

constexpr std::string_view kEnvPrefix = "TEGU_";
// TEGU_CONFIG names where files are, it is not a setting itself (as DASK_CONFIG).
constexpr std::string_view kConfigPathVariable = "TEGU_CONFIG";

// Everything below `mu` is guarded by it. Loading happens under the lock too, so two threads
// that touch the configuration first at the same moment load it once.
struct Store {
  std::mutex mu;
  bool loaded = false;
  std::vector<json> defaults;  // layers in registration order, the built-in one first
  json tree;                   // the current configuration, always a JSON object
  std::vector<std::string> warnings;  // from the latest load
};

// Never destroyed, so that code running during static destruction (a worker shutting down, a
// Python interpreter finalising) can still read the configuration.
Store& GetStore() {
  static Store* store = [] {
    auto* s = new Store();
    s->defaults.push_back(json::parse(kBuiltinDefaults));
    return s;
  }();
  return *store;
}

// --- keys ---------------------------------------------------------------------------------

// `_` and `-` are one character (dask.config.canonical_name); we store `-` so that a lookup
// needs no second probe. Components starting with "__" are front-end markers and kept verbatim.
std::string CanonicalComponent(std::string_view component) {
  std::string out(component);
  if (out.starts_with("__")) return out;
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

// Splits "a.b_c" into {"a", "b-c"}; nullopt when the key or any component is empty.
std::optional<std::vector<std::string>> SplitKey(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string_view part = key.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty()) return std::nullopt;
    parts.push_back(CanonicalComponent(part));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

void MergeNew(json& old, const json& update);

// Rewrites the keys of every mapping in `value` to their canonical spelling. Two spellings of
// one key in the same mapping are merged rather than one silently dropping the other.
json Canonicalize(const json& value) {
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(Canonicalize(item));
    return out;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [k, v] : value.items()) {
    json canonical = Canonicalize(v);
    std::string name = CanonicalComponent(k);
    auto it = out.find(name);
    if (it != out.end() && it->is_object() && canonical.is_object()) {
      MergeNew(*it, canonical);
    } else {
      out[name] = std::move(canonical);
    }
  }
  return out;
}

const json* Find(const json& tree, const std::vector<std::string>& path) {
  const json* node = &tree;
  for (const auto& part : path) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::string Dump(const json& value) {
  // Environment variables and files may hold bytes that are not UTF-8; show them rather than
  // throw from a getter.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// --- merging (dask.config.update) -----------------------------------------------------------

// priority="new": mappings merge recursively, anything else replaces. `old` is a mapping.
void MergeNew(json& old, const json& update) {
  for (const auto& [k, v] : update.items()) {
    if (v.is_object()) {
      json& slot = old[k];
      if (!slot.is_object()) slot = json::object();
      MergeNew(slot, v);
    } else {
      old[k] = v;
    }
  }
}

// priority="new-defaults": a value takes the new default when it is missing or still equals the
// previous default, so choices made by files, the environment or a program survive.
void MergeNewDefaults(json& old, const json& update, const json* previous_defaults) {
  for (const auto& [k, v] : update.items()) {
    const json* previous = nullptr;
    if (previous_defaults != nullptr && previous_defaults->is_object()) {
      auto it = previous_defaults->find(k);
      if (it != previous_defaults->end()) previous = &*it;
    }
    if (v.is_object()) {
      json& slot = old[k];
      if (!slot.is_object()) slot = json::object();
      MergeNewDefaults(slot, v, previous);
    } else {
      auto it = old.find(k);
      if (it == old.end() || (previous != nullptr && *previous == *it)) old[k] = v;
    }
  }
}

json MergedDefaults(const Store& store) {
  json out = json::object();
  for (const auto& layer : store.defaults) MergeNew(out, layer);
  return out;
}

// --- scalars --------------------------------------------------------------------------------

// Scanners for the YAML 1.2 core schema's number forms; each consumes from `pos` and says
// whether anything matched. Hand-written rather than std::regex, which is heavy and, in GCC 12,
// trips -Wmaybe-uninitialized under -fsanitize=thread.
bool ScanDigits(std::string_view s, size_t& pos, int base) {
  size_t start = pos;
  while (pos < s.size()) {
    char c = s[pos];
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c < static_cast<char>('0' + base));
    if (!ok) break;
    ++pos;
  }
  return pos > start;
}

void ScanSign(std::string_view s, size_t& pos) {
  if (pos < s.size() && (s[pos] == '-' || s[pos] == '+')) ++pos;
}

// [-+]?[0-9]+
bool IsDecimal(std::string_view s) {
  size_t pos = 0;
  ScanSign(s, pos);
  return ScanDigits(s, pos, 10) && pos == s.size();
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsFloat(std::string_view s) {
  size_t pos = 0;
  ScanSign(s, pos);
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    if (!ScanDigits(s, pos, 10)) return false;
  } else {
    if (!ScanDigits(s, pos, 10)) return false;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      ScanDigits(s, pos, 10);
    }
  }
  if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
    ++pos;
    ScanSign(s, pos);
    if (!ScanDigits(s, pos, 10)) return false;
  }
  return pos == s.size();
}

// Resolves an unquoted scalar by the YAML 1.2 core schema: null, bool, int (decimal, 0o, 0x),
// float (including .inf and .nan). nullopt means "a string".
std::optional<json> ResolvePlainScalar(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json(nullptr);
  if (s == "true" || s == "True" || s == "TRUE") return json(true);
  if (s == "false" || s == "False" || s == "FALSE") return json(false);

  auto parse_int = [](std::string_view digits, int base) -> std::optional<json> {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return json(value);
  };
  // from_chars takes no leading '+'.
  std::string_view unsigned_part = s.front() == '+' ? s.substr(1) : s;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    int base = s[1] == 'o' ? 8 : 16;
    size_t pos = 2;
    if (ScanDigits(s, pos, base) && pos == s.size()) return parse_int(s.substr(2), base);
    return std::nullopt;
  }
  if (IsDecimal(s)) {
    if (auto value = parse_int(unsigned_part, 10)) return value;
    // Too large for int64: keep the magnitude as a float, as YAML and JSON readers do.
  }
  if (IsFloat(s)) {
    double value = 0;
    const char* last = unsigned_part.data() + unsigned_part.size();
    auto [end, ec] = std::from_chars(unsigned_part.data(), last, value);
    if (ec == std::errc() && end == last) return json(value);
    return std::nullopt;
  }
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF" ||
      s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    return json(s.front() == '-' ? -std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::infinity());
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return json(std::numeric_limits<double>::quiet_NaN());
  }
  return std::nullopt;
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar: {
      // yaml-cpp tags plain scalars "?" and quoted or block scalars "!"; only plain ones are
      // resolved, so `"4"` stays a string.
      const std::string& tag = node.Tag();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return node.Scalar();
      if (auto resolved = ResolvePlainScalar(node.Scalar())) return *resolved;
      return node.Scalar();
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) {
        const YAML::Node& key = entry.first;
        std::string name = key.IsScalar() ? key.Scalar()
                           : key.IsNull() ? std::string("null")
                                          : YAML::Dump(key);
        out[name] = YamlToJson(entry.second);
      }
      return out;
    }
  }
  return nullptr;
}

// An environment value: a YAML flow collection or quoted scalar when it parses as one, a plain
// scalar resolved by the core schema, and otherwise the text itself (as dask's literal_eval
// fallback). "a: b" is not read as a mapping: only flow syntax makes a collection.
json ParseEnvValue(const std::string& text) {
  auto first = text.find_first_not_of(" \t");
  auto last = text.find_last_not_of(" \t");
  std::string_view trimmed;
  if (first != std::string::npos) {
    trimmed = std::string_view(text).substr(first, last - first + 1);
  }
  if (!trimmed.empty() && (trimmed.front() == '[' || trimmed.front() == '{' ||
                           trimmed.front() == '"' || trimmed.front() == '\'')) {
    try {
      YAML::Node node = YAML::Load(std::string(trimmed));
      if (node.IsSequence() || node.IsMap() || node.IsScalar()) return YamlToJson(node);
    } catch (const YAML::Exception&) {
      // Not valid YAML: the text is a string.
    }
    return text;
  }
  if (auto resolved = ResolvePlainScalar(trimmed)) return *resolved;
  return text;
}

// --- sources --------------------------------------------------------------------------------

void Warn(Store& store, std::string message) {
  std::cerr << "tegu: warning: config: " << message << '\n';
  store.warnings.push_back(std::move(message));
}

bool IsConfigFile(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // dask.config.collect_yaml also reads .json files; YAML is a superset of JSON.
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The files under `path` in the order they are merged: the file itself, or a directory's
// config files sorted by name. A missing path gives none.
std::vector<fs::path> ConfigFiles(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (fs::exists(path, ec)) return {path};
    return {};
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (IsConfigFile(it->path()) && !it->is_directory(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void MergeFile(Store& store, const fs::path& path, json& into) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    std::string where = path.string();
    if (e.mark.line >= 0) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    Warn(store, where + ": " + e.msg + " (file skipped)");
    return;
  }
  if (root.IsNull()) return;  // an empty file
  if (!root.IsMap()) {
    Warn(store, path.string() + ":1: the top level is not a mapping (file skipped)");
    return;
  }
  MergeNew(into, Canonicalize(YamlToJson(root)));
}

json CollectFiles(Store& store) {
  json out = json::object();
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    for (const auto& file : ConfigFiles(fs::path(home) / ".config" / "tegu")) {
      MergeFile(store, file, out);
    }
  }
  if (const char* extra = std::getenv(std::string(kConfigPathVariable).c_str());
      extra != nullptr && *extra != '\0') {
    std::error_code ec;
    if (!fs::exists(extra, ec)) {
      Warn(store, std::string(kConfigPathVariable) + "=" + extra + ": no such file or directory");
    }
    for (const auto& file : ConfigFiles(extra)) MergeFile(store, file, out);
  }
  return out;
}

// TEGU_A__B_C=v sets a.b-c (dask.config.collect_env).
json CollectEnv() {
  json out = json::object();
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view item(*entry);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = item.substr(0, eq);
    if (!name.starts_with(kEnvPrefix) || name == kConfigPathVariable) continue;
    std::string key(name.substr(kEnvPrefix.size()));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t pos = 0; (pos = key.find("__", pos)) != std::string::npos;) {
      key.replace(pos, 2, ".");
      ++pos;
    }
    auto path = SplitKey(key);
    if (!path) continue;  // TEGU_ alone, or an empty component such as TEGU_A____B
    json value = ParseEnvValue(std::string(item.substr(eq + 1)));
    json nested = Canonicalize(value);
    for (auto it = path->rbegin(); it != path->rend(); ++it) {
      nested = json{{*it, std::move(nested)}};
    }
    MergeNew(out, nested);
  }
  return out;
}

// Requires store.mu.
void Load(Store& store) {
  store.warnings.clear();
  store.tree = MergedDefaults(store);
  MergeNew(store.tree, CollectFiles(store));
  MergeNew(store.tree, CollectEnv());
  store.loaded = true;
}

// Locks the store and loads it on first use.
std::unique_lock<std::mutex> LockLoaded(Store& store) {
  std::unique_lock<std::mutex> lock(store.mu);
  if (!store.loaded) Load(store);
  return lock;
}

std::optional<json> GetValue(std::string_view key) {
  auto path = SplitKey(key);
  if (!path) return std::nullopt;
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  const json* node = Find(store.tree, *path);
  if (node == nullptr) return std::nullopt;
  return *node;
}

std::optional<json> ParseJson(std::string_view text, std::string* error) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    *error = e.what();
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> GetJson(std::string_view key) {
  auto value = GetValue(key);
  if (!value) return std::nullopt;
  return Dump(*value);
}

std::string GetString(std::string_view key, std::string fallback) {
  auto value = GetValue(key);
  if (!value || !value->is_string()) return fallback;
  return value->get<std::string>();
}

int64_t GetInt(std::string_view key, int64_t fallback) {
  auto value = GetValue(key);
  if (!value || !value->is_number_integer()) return fallback;
  if (value->is_number_unsigned() &&
      value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return fallback;
  }
  return value->get<int64_t>();
}

bool GetBool(std::string_view key, bool fallback) {
  auto value = GetValue(key);
  if (!value || !value->is_boolean()) return fallback;
  return value->get<bool>();
}

double GetDouble(std::string_view key, double fallback) {
  auto value = GetValue(key);
  if (!value || !value->is_number()) return fallback;
  return value->get<double>();
}

Status SetJson(std::string_view key, std::string_view json_text) {
  auto path = SplitKey(key);
  if (!path) return Status::Invalid("config key '" + std::string(key) + "' has an empty part");
  std::string error;
  auto value = ParseJson(json_text, &error);
  if (!value) {
    return Status::Invalid("config key '" + std::string(key) + "': invalid JSON: " + error);
  }
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  // Check the whole path before changing anything, so a failed set leaves no trace.
  const json* node = &store.tree;
  for (size_t i = 0; i + 1 < path->size() && node != nullptr; ++i) {
    auto it = node->find((*path)[i]);
    if (it == node->end()) break;
    if (!it->is_object() && !it->is_null()) {
      std::string prefix;
      for (size_t j = 0; j <= i; ++j) prefix += (j ? "." : "") + (*path)[j];
      return Status::Invalid("config key '" + std::string(key) + "': '" + prefix +
                             "' holds " + Dump(*it) + ", not a mapping");
    }
    node = it->is_object() ? &*it : nullptr;
  }
  json* slot = &store.tree;
  for (size_t i = 0; i + 1 < path->size(); ++i) {
    slot = &(*slot)[(*path)[i]];
    if (!slot->is_object()) *slot = json::object();
  }
  (*slot)[path->back()] = Canonicalize(*value);
  return Status::OK();
}

void Delete(std::string_view key) {
  auto path = SplitKey(key);
  if (!path) return;
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  json* node = &store.tree;
  for (size_t i = 0; i + 1 < path->size(); ++i) {
    auto it = node->find((*path)[i]);
    if (it == node->end() || !it->is_object()) return;
    node = &*it;
  }
  node->erase(path->back());
}

std::string ToJson() {
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  return Dump(store.tree);
}

void Refresh() {
  Store& store = GetStore();
  std::lock_guard<std::mutex> lock(store.mu);
  Load(store);
}

Status UpdateDefaults(std::string_view json_object) {
  std::string error;
  auto value = ParseJson(json_object, &error);
  if (!value) return Status::Invalid("config defaults: invalid JSON: " + error);
  if (!value->is_object()) {
    return Status::Invalid("config defaults must be a JSON object, got " + Dump(*value));
  }
  json layer = Canonicalize(*value);
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  json previous = MergedDefaults(store);
  store.defaults.push_back(layer);
  MergeNewDefaults(store.tree, layer, &previous);
  return Status::OK();
}

std::vector<std::string> LoadWarnings() {
  Store& store = GetStore();
  auto lock = LockLoaded(store);
  return store.warnings;
}

}  // namespace tegu::config
