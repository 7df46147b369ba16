// libFuzzer target for everything that reads bytes from an unauthenticated or authenticated
// peer: the frame decoder (under both limit sets, fed in data-dependent chunks), the msgpack
// header parser, and the server side of the handshake. Any crash, leak, overflow or unbounded
// allocation here is a remote denial of service, or worse.
//
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTEGU_BUILD_FUZZERS=ON
//   cmake --build build/fuzz --target frame_fuzz && build/fuzz/src/tegu/protocol/frame_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>

#include "tegu/protocol/handshake.hpp"
#include "tegu/protocol/header.hpp"
#include "tegu/protocol/wire.hpp"

using tegu::protocol::HeaderView;
using tegu::protocol::Message;
using tegu::protocol::MessageDecoder;
using tegu::protocol::WireLimits;

namespace {

void Decode(const uint8_t* data, size_t size, WireLimits limits) {
  MessageDecoder decoder(limits);
  size_t pos = 0;
  // The first byte picks the chunk size, so split points are explored too.
  size_t chunk = size > 0 ? 1 + data[0] % 64 : 1;
  while (pos < size) {
    size_t n = std::min(chunk, size - pos);
    if (!decoder.Feed(data + pos, n).ok()) break;
    pos += n;
  }
  while (auto m = decoder.Next()) {
    auto view = HeaderView::Parse(m->header);
    if (view.ok()) {
      (void)view.ValueUnsafe().GetInt("i");
      (void)view.ValueUnsafe().GetString("key");
      (void)view.ValueUnsafe().GetStringList("keys");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Decode(data, size, WireLimits());
  Decode(data, size, WireLimits::Unauthenticated());
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)HeaderView::Parse(bytes);
  tegu::protocol::ServerHandshake server("fuzz-secret");
  (void)server.Hello();
  Message auth;
  auth.header = std::string(bytes);
  (void)server.OnAuth(auth);
  return 0;
}
