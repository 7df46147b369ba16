#include "tegu/delayed.hpp"

#include <cstdio>
#include <unordered_map>

namespace tegu::internal {

DelayedNode::~DelayedNode() {
  // A chain of a million nodes would overflow the stack if each destructor destroyed the next.
  // Move sole-owned children to a worklist instead and let them die one at a time.
  std::vector<std::shared_ptr<const DelayedNode>> pending;
  auto collect = [&pending](std::vector<DelayedArg>& args, auto& self) -> void {
    for (DelayedArg& a : args) {
      if (a.node && a.node.use_count() == 1) pending.push_back(std::move(a.node));
      self(a.items, self);
    }
  };
  collect(args, collect);
  while (!pending.empty()) {
    std::shared_ptr<const DelayedNode> node = std::move(pending.back());
    pending.pop_back();
    auto* mutable_node = const_cast<DelayedNode*>(node.get());
    collect(mutable_node->args, collect);
  }
}

Key UniqueKey(const std::string& name) {
  static std::atomic<uint64_t> counter{0};
  char buf[32];
  // Decimal, not hex: a hex counter such as "a" or "ff" is an alphabetic word, which
  // Key::Prefix (as dask's key_split) would keep ("inc-ff" instead of "inc").
  std::snprintf(buf, sizeof(buf), "-%llu",
                static_cast<unsigned long long>(counter.fetch_add(1) + 1));
  return Key(name + buf);
}

std::vector<KeyId> BuildGraph(std::span<const std::shared_ptr<const DelayedNode>> roots,
                              Graph* graph) {
  std::vector<KeyId> outputs;
  std::vector<const DelayedNode*> stack;
  std::unordered_map<const DelayedNode*, KeyId> seen;
  auto visit = [&](const DelayedNode* node) {
    auto [it, inserted] = seen.try_emplace(node, kNoKey);
    if (inserted) {
      it->second = graph->Intern(node->key);
      stack.push_back(node);
    }
    return it->second;
  };
  auto to_arg = [&](const DelayedArg& a, auto& self) -> Arg {
    if (a.node) return Arg::Ref(visit(a.node.get()));
    if (a.is_list) {
      std::vector<Arg> items;
      for (const DelayedArg& item : a.items) items.push_back(self(item, self));
      return Arg::List(std::move(items));
    }
    return Arg::Literal(a.literal);
  };
  for (const auto& root : roots) outputs.push_back(visit(root.get()));
  while (!stack.empty()) {
    const DelayedNode* node = stack.back();
    stack.pop_back();
    std::vector<Arg> args;
    args.reserve(node->args.size());
    for (const DelayedArg& a : node->args) args.push_back(to_arg(a, to_arg));
    graph->SetTask(seen[node], Task{TaskSpec(node->fn, std::move(args)), {}});
  }
  return outputs;
}

}  // namespace tegu::internal
