// Keys in msgpack form (a string, or an array of strings and integers), shared by the batched
// op codec and the native-task run spec.
//
// Thread-safety: pure functions.
#pragma once

#include <msgpack.hpp>

#include "tegu/key.hpp"

namespace tegu::distributed::internal {

/// Reads a key; false when `o` is not one.
bool KeyFromObject(const msgpack::object& o, Key* key);
/// Writes `key` in the form KeyFromObject reads.
void PackKey(msgpack::packer<msgpack::sbuffer>& pk, const Key& key);

}  // namespace tegu::distributed::internal
