#include "actors/runtime/actor_messages.hpp"

#include <caf/actor_system_config.hpp>

namespace quiver {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<tenant_id>("quiver::tenant_id")
      .add_message_type<seq_no>("quiver::seq_no")
      .add_message_type<index_params>("quiver::index_params")
      .add_message_type<upsert_item>("quiver::upsert_item")
      .add_message_type<std::vector<upsert_item>>("quiver::upsert_items")
      .add_message_type<vector_record>("quiver::vector_record")
      .add_message_type<search_hit>("quiver::search_hit")
      .add_message_type<search_options>("quiver::search_options")
      .add_message_type<id_page>("quiver::id_page")
      .add_message_type<index_description>("quiver::index_description")
      .add_message_type<std::vector<index_description>>("quiver::index_descriptions")
      .add_message_type<create_index_request>("quiver::create_index_request")
      .add_message_type<create_index_reply>("quiver::create_index_reply")
      .add_message_type<list_indexes_request>("quiver::list_indexes_request")
      .add_message_type<describe_index_request>("quiver::describe_index_request")
      .add_message_type<drop_index_request>("quiver::drop_index_request")
      .add_message_type<readiness_request>("quiver::readiness_request")
      .add_message_type<readiness_reply>("quiver::readiness_reply")
      .add_message_type<upsert_request>("quiver::upsert_request")
      .add_message_type<upsert_reply>("quiver::upsert_reply")
      .add_message_type<get_vector_request>("quiver::get_vector_request")
      .add_message_type<delete_vectors_request>("quiver::delete_vectors_request")
      .add_message_type<delete_vectors_reply>("quiver::delete_vectors_reply")
      .add_message_type<list_ids_request>("quiver::list_ids_request")
      .add_message_type<search_request>("quiver::search_request")
      .add_message_type<search_reply>("quiver::search_reply")
      .add_message_type<search_batch_request>("quiver::search_batch_request")
      .add_message_type<search_batch_reply>("quiver::search_batch_reply")
      .add_message_type<merge_request>("quiver::merge_request")
      .add_message_type<merge_reply>("quiver::merge_reply")
      .add_message_type<shard_stats_request>("quiver::shard_stats_request")
      .add_message_type<shard_stats>("quiver::shard_stats")
      .add_message_type<shard_export_request>("quiver::shard_export_request")
      .add_message_type<shard_export>("quiver::shard_export")
      .add_message_type<lookup_index_request>("quiver::lookup_index_request")
      .add_message_type<index_route>("quiver::index_route");
}

}  // namespace quiver
