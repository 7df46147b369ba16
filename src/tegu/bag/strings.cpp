#include "tegu/bag/strings.hpp"

#include <bit>
#include <cstring>

#include "tegu/distributed/payload.hpp"

namespace tegu::bag {

namespace {

using distributed::Payload;

// Shared by every empty list, so that default-constructing a partition allocates nothing.
const std::shared_ptr<const std::vector<int64_t>>& EmptyOffsets() {
  static const auto* empty = new std::shared_ptr<const std::vector<int64_t>>(
      std::make_shared<const std::vector<int64_t>>(1, 0));
  return *empty;
}

// Checks that `offsets` index a range of [0, limit): non-empty, starting at 0 or later,
// non-decreasing, ending at most at `limit`. `what` names the array in the message.
bool ValidOffsets(const std::vector<int64_t>* offsets, int64_t limit, const char* what,
                  std::string* why) {
  auto fail = [&](std::string message) {
    if (why != nullptr) *why = std::string(what) + ": " + message;
    return false;
  };
  if (offsets == nullptr || offsets->empty()) return fail("no offsets (at least one is needed)");
  if (offsets->front() < 0) return fail("the first offset is negative");
  for (size_t i = 1; i < offsets->size(); ++i) {
    if ((*offsets)[i] < (*offsets)[i - 1]) {
      return fail("offset " + std::to_string(i) + " (" + std::to_string((*offsets)[i]) +
                  ") is smaller than the one before it (" + std::to_string((*offsets)[i - 1]) +
                  ")");
    }
  }
  if (offsets->back() > limit) {
    return fail("the last offset (" + std::to_string(offsets->back()) + ") is past the end (" +
                std::to_string(limit) + ")");
  }
  return true;
}

// ---- wire form -----------------------------------------------------------------------------
// Integer arrays travel as little-endian int64. A received frame may start at any address
// (it is a slice of a message), so it is always copied out with memcpy, never cast.

uint64_t ToLittle(uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) return __builtin_bswap64(v);
  return v;
}

// `values[begin, end)`, each minus `base`, as a frame.
Buffer EncodeInts(const std::vector<int64_t>& values, size_t begin, size_t end, int64_t base) {
  std::vector<uint8_t> bytes((end - begin) * sizeof(int64_t));
  for (size_t i = begin; i < end; ++i) {
    const uint64_t v = ToLittle(static_cast<uint64_t>(values[i] - base));
    std::memcpy(bytes.data() + (i - begin) * sizeof(int64_t), &v, sizeof(v));
  }
  return Buffer::Own(std::move(bytes));
}

Result<std::shared_ptr<const std::vector<int64_t>>> DecodeInts(const Buffer& frame,
                                                               const char* what) {
  if (frame.size() % sizeof(int64_t) != 0) {
    return Status::Invalid(std::string("the ") + what + " frame has " +
                           std::to_string(frame.size()) +
                           " bytes, which is not a whole number of int64 values");
  }
  auto values = std::make_shared<std::vector<int64_t>>(frame.size() / sizeof(int64_t));
  for (size_t i = 0; i < values->size(); ++i) {
    uint64_t v;
    std::memcpy(&v, frame.data() + i * sizeof(int64_t), sizeof(v));
    (*values)[i] = static_cast<int64_t>(ToLittle(v));
  }
  return std::shared_ptr<const std::vector<int64_t>>(std::move(values));
}

// Bytes [begin, end) of `data` without copying: the slice keeps the whole buffer alive.
Buffer Slice(const Buffer& data, size_t begin, size_t end) {
  if (begin == 0 && end == data.size()) return data;
  auto owner = std::make_shared<const Buffer>(data);
  return Buffer(owner, owner->data() + begin, end - begin);
}

// Strings [first, last) of `list` as two frames, offsets rebased to the bytes they cover, so
// that a slice of a large partition does not send the whole partition.
void AppendStringFrames(const StringList& list, size_t first, size_t last, Payload* payload) {
  const std::vector<int64_t>& offsets = list.offsets();
  const int64_t begin = offsets[first];
  const int64_t end = offsets[last];
  payload->frames.push_back(EncodeInts(offsets, first, last + 1, begin));
  payload->frames.push_back(
      Slice(list.data(), static_cast<size_t>(begin), static_cast<size_t>(end)));
}

Result<StringList> ReadStringFrames(const Payload& payload, size_t index, const char* kind) {
  TEGU_ASSIGN_OR_RAISE(auto offsets, DecodeInts(payload.frames[index], "string offsets"));
  StringList list(payload.frames[index + 1], std::move(offsets));
  std::string why;
  if (!list.Validate(&why)) {
    return Status::Invalid(std::string("a malformed '") + kind + "' payload: " + why);
  }
  return list;
}

Status CheckFrameCount(const Payload& payload, size_t expected) {
  if (payload.frames.size() == expected) return Status::OK();
  return Status::Invalid("a '" + payload.kind + "' payload has " + std::to_string(expected) +
                         " frames, got " + std::to_string(payload.frames.size()));
}

template <class T>
Result<const T*> Held(const Value& value) {
  if (const T* p = value.TryGet<T>()) return p;
  return Status::TypeError("expected a text partition, got " + value.TypeName());
}

// What a list keeps alive: its whole data buffer (shared slack included) and its offsets.
uint64_t ListBytes(const StringList& list) {
  return list.data().size() + list.offsets().size() * sizeof(int64_t);
}
constexpr uint64_t kObjectOverhead = 64;

Result<Payload> SerializeStrings(const Value& value) {
  TEGU_ASSIGN_OR_RAISE(const StringList* list, Held<StringList>(value));
  Payload payload{"strings", {}};
  payload.frames.reserve(2);
  AppendStringFrames(*list, 0, list->size(), &payload);
  return payload;
}

Result<Value> DeserializeStrings(const Payload& payload) {
  TEGU_RETURN_NOT_OK(CheckFrameCount(payload, 2));
  TEGU_ASSIGN_OR_RAISE(StringList list, ReadStringFrames(payload, 0, "strings"));
  return Value::From(std::move(list));
}

uint64_t SizeOfStrings(const Value& value) {
  const StringList* list = value.TryGet<StringList>();
  return (list != nullptr ? ListBytes(*list) : 0) + kObjectOverhead;
}

Result<Payload> SerializeStringLists(const Value& value) {
  TEGU_ASSIGN_OR_RAISE(const StringLists* lists, Held<StringLists>(value));
  const std::vector<int64_t>& list_offsets = lists->list_offsets();
  const auto first = static_cast<size_t>(list_offsets.front());
  const auto last = static_cast<size_t>(list_offsets.back());
  Payload payload{"string-lists", {}};
  payload.frames.reserve(3);
  payload.frames.push_back(
      EncodeInts(list_offsets, 0, list_offsets.size(), list_offsets.front()));
  AppendStringFrames(lists->strings(), first, last, &payload);
  return payload;
}

Result<Value> DeserializeStringLists(const Payload& payload) {
  TEGU_RETURN_NOT_OK(CheckFrameCount(payload, 3));
  TEGU_ASSIGN_OR_RAISE(auto list_offsets, DecodeInts(payload.frames[0], "list offsets"));
  TEGU_ASSIGN_OR_RAISE(StringList strings, ReadStringFrames(payload, 1, "string-lists"));
  StringLists lists(std::move(strings), std::move(list_offsets));
  std::string why;
  if (!lists.Validate(&why)) {
    return Status::Invalid("a malformed 'string-lists' payload: " + why);
  }
  return Value::From(std::move(lists));
}

uint64_t SizeOfStringLists(const Value& value) {
  const StringLists* lists = value.TryGet<StringLists>();
  if (lists == nullptr) return kObjectOverhead;
  return ListBytes(lists->strings()) + lists->list_offsets().size() * sizeof(int64_t) +
         kObjectOverhead;
}

Result<Payload> SerializeStringCounts(const Value& value) {
  TEGU_ASSIGN_OR_RAISE(const StringCounts* counts, Held<StringCounts>(value));
  Payload payload{"string-counts", {}};
  payload.frames.reserve(3);
  payload.frames.push_back(EncodeInts(counts->counts(), 0, counts->counts().size(), 0));
  AppendStringFrames(counts->keys(), 0, counts->keys().size(), &payload);
  return payload;
}

Result<Value> DeserializeStringCounts(const Payload& payload) {
  TEGU_RETURN_NOT_OK(CheckFrameCount(payload, 3));
  TEGU_ASSIGN_OR_RAISE(auto values, DecodeInts(payload.frames[0], "counts"));
  TEGU_ASSIGN_OR_RAISE(StringList keys, ReadStringFrames(payload, 1, "string-counts"));
  StringCounts counts(std::move(keys), std::move(values));
  std::string why;
  if (!counts.Validate(&why)) {
    return Status::Invalid("a malformed 'string-counts' payload: " + why);
  }
  return Value::From(std::move(counts));
}

uint64_t SizeOfStringCounts(const Value& value) {
  const StringCounts* counts = value.TryGet<StringCounts>();
  if (counts == nullptr) return kObjectOverhead;
  return ListBytes(counts->keys()) + counts->counts().size() * sizeof(int64_t) + kObjectOverhead;
}

}  // namespace

StringList::StringList() : offsets_(EmptyOffsets()) {}

bool StringList::Validate(std::string* why) const {
  return ValidOffsets(offsets_.get(), static_cast<int64_t>(data_.size()), "string offsets", why);
}

StringList StringListBuilder::Finish() {
  // The string is moved into the owner, so its bytes are not copied (a short string's are,
  // inline, which costs nothing).
  auto owned = std::make_shared<std::string>(std::move(data_));
  const auto* bytes = reinterpret_cast<const uint8_t*>(owned->data());
  const size_t size = owned->size();
  StringList list(Buffer(std::move(owned), bytes, size),
                  std::make_shared<const std::vector<int64_t>>(std::move(offsets_)));
  data_ = std::string();
  offsets_.assign(1, 0);
  return list;
}

StringLists::StringLists() : list_offsets_(EmptyOffsets()) {}

bool StringLists::Validate(std::string* why) const {
  if (!strings_.Validate(why)) return false;
  return ValidOffsets(list_offsets_.get(), static_cast<int64_t>(strings_.size()), "list offsets",
                      why);
}

StringCounts::StringCounts() : counts_(std::make_shared<const std::vector<int64_t>>()) {}

bool StringCounts::Validate(std::string* why) const {
  if (!keys_.Validate(why)) return false;
  if (counts_ == nullptr || counts_->size() != keys_.size()) {
    if (why != nullptr) {
      *why = "there are " + std::to_string(counts_ ? counts_->size() : 0) + " counts for " +
             std::to_string(keys_.size()) + " keys";
    }
    return false;
  }
  return true;
}

void RegisterStringTypes() {
  distributed::RegisterNativeType({"strings", &typeid(StringList), SerializeStrings,
                                   DeserializeStrings, SizeOfStrings});
  distributed::RegisterNativeType({"string-lists", &typeid(StringLists), SerializeStringLists,
                                   DeserializeStringLists, SizeOfStringLists});
  distributed::RegisterNativeType({"string-counts", &typeid(StringCounts), SerializeStringCounts,
                                   DeserializeStringCounts, SizeOfStringCounts});
}

}  // namespace tegu::bag
