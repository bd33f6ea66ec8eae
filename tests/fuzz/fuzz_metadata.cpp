// What etcd hands back: the v3 JSON gateway's answers (every parser) and the
// metadata records in its values (every kind). Nothing crashes or throws, and
// every record that decodes encodes to bytes that decode to the same record.
#include <cstdint>
#include <cstdlib>

#include "cluster/metadata_records.hpp"
#include "etcd/detail/etcd_json.hpp"

namespace {

template <class T, class Decode>
void round_trip(std::string_view bytes, Decode decode) {
  auto r = decode(bytes);
  if (!r) return;
  auto again = decode(quiver::encode(*r));
  if (!again || quiver::encode(*again) != quiver::encode(*r)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  round_trip<node_record>(bytes, decode_node_record);
  round_trip<shard_record>(bytes, decode_shard_record);
  round_trip<controller_record>(bytes, decode_controller_record);
  round_trip<index_record>(bytes, decode_index_record);
  round_trip<tenant_record>(bytes, decode_tenant_record);
  round_trip<catalog_record>(bytes, decode_catalog_record);

  namespace j = etcd::detail;
  j::parse_range(bytes);
  j::parse_put(bytes);
  j::parse_erase(bytes);
  j::parse_txn(bytes);
  j::parse_lease_grant(bytes);
  j::parse_keepalive(bytes);
  j::parse_revoke(bytes);
  j::parse_watch_line(bytes);
  if (auto text = j::base64_decode(bytes)) {
    if (j::base64_decode(j::base64_encode(*text)) != text) std::abort();
  }
  return 0;
}
