#include "tegu/task_spec.hpp"

namespace tegu {

namespace {
const std::vector<Arg>& EmptyArgs() {
  static const std::vector<Arg> kEmpty;
  return kEmpty;
}
}  // namespace

Arg Arg::Literal(Value value) {
  Arg a;
  a.kind_ = Kind::kLiteral;
  a.literal_ = std::move(value);
  return a;
}

Arg Arg::Ref(KeyId key) {
  Arg a;
  a.kind_ = Kind::kRef;
  a.ref_ = key;
  return a;
}

Arg Arg::WithItems(std::vector<Arg> items) const {
  Arg a;
  a.kind_ = kind_;
  auto compound = std::make_shared<Compound>();
  for (const Arg& item : items) compound->has_refs = compound->has_refs || item.HasRefs();
  compound->items = std::move(items);
  if (compound_) compound->keys = compound_->keys;
  a.compound_ = std::move(compound);
  return a;
}

Arg Arg::List(std::vector<Arg> items) {
  Arg a;
  a.kind_ = Kind::kList;
  return a.WithItems(std::move(items));
}

Arg Arg::Tuple(std::vector<Arg> items) {
  Arg a;
  a.kind_ = Kind::kTuple;
  return a.WithItems(std::move(items));
}

Arg Arg::Dict(std::vector<Value> keys, std::vector<Arg> values) {
  Arg a;
  a.kind_ = Kind::kDict;
  a = a.WithItems(std::move(values));
  auto compound = std::const_pointer_cast<Compound>(a.compound_);
  compound->keys = std::move(keys);
  return a;
}

const std::vector<Arg>& Arg::items() const { return compound_ ? compound_->items : EmptyArgs(); }

const std::vector<Value>& Arg::dict_keys() const {
  static const std::vector<Value> kEmpty;
  return compound_ ? compound_->keys : kEmpty;
}

bool Arg::HasRefs() const {
  return kind_ == Kind::kRef || (compound_ && compound_->has_refs);
}

Value ResolveArgNative(const Arg& arg, const TaskInputs& inputs) {
  switch (arg.kind()) {
    case Arg::Kind::kLiteral:
      return arg.literal();
    case Arg::Kind::kRef:
      return inputs.Get(arg.ref());
    case Arg::Kind::kList:
    case Arg::Kind::kTuple: {
      ValueList items;
      items.reserve(arg.items().size());
      for (const Arg& item : arg.items()) items.push_back(ResolveArgNative(item, inputs));
      return Value::From(std::move(items));
    }
    case Arg::Kind::kDict: {
      ValueList pairs;
      for (size_t i = 0; i < arg.items().size(); ++i) {
        pairs.push_back(Value::From(
            ValueList{arg.dict_keys()[i], ResolveArgNative(arg.items()[i], inputs)}));
      }
      return Value::From(std::move(pairs));
    }
  }
  return Value();
}

Result<Value> TaskSpec::Call(const TaskInputs& inputs) const {
  if (fn_) return fn_->Call(*this, inputs);
  if (args_.size() != 1) {
    return Status::Invalid("an identity task takes exactly one argument, got " +
                           std::to_string(args_.size()));
  }
  return ResolveArgNative(args_[0], inputs);
}

}  // namespace tegu
