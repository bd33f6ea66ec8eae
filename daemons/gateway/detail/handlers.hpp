#pragma once

#include "daemons/gateway/detail/http_context.hpp"

// The gateway's route handlers, one file per resource. Each runs after the route
// table matched the path and method and checked the caller's access, the index
// or tenant name and the body's media type; each answers through ctx exactly once.
namespace quiver::gateway {

// operations_handlers.cpp: /healthz, /readyz, /openapi.json, /ui, /metrics, /v1/cluster
void healthz(services&, const context_ptr&, const route_args&);
void openapi(services&, const context_ptr&, const route_args&);
void ui(services&, const context_ptr&, const route_args&);
void readyz(services&, const context_ptr&, const route_args&);
void metrics(services&, const context_ptr&, const route_args&);
void cluster(services&, const context_ptr&, const route_args&);

// index_handlers.cpp: /v1/indexes and /v1/indexes/{name}
void list_indexes(services&, const context_ptr&, const route_args&);
void create_index(services&, const context_ptr&, const route_args&);
void describe_index(services&, const context_ptr&, const route_args&);
void drop_index(services&, const context_ptr&, const route_args&);
void merge(services&, const context_ptr&, const route_args&);

// vector_handlers.cpp: /v1/indexes/{name}/vectors..., /ids
void upsert_batch(services&, const context_ptr&, const route_args&);
void delete_batch(services&, const context_ptr&, const route_args&);
void count_vectors(services&, const context_ptr&, const route_args&);
void put_field(services&, const context_ptr&, const route_args&);
void drop_field(services&, const context_ptr&, const route_args&);
void list_fields(services&, const context_ptr&, const route_args&);
void get_vector(services&, const context_ptr&, const route_args&);
void put_vector(services&, const context_ptr&, const route_args&);
void delete_vector(services&, const context_ptr&, const route_args&);
void list_ids(services&, const context_ptr&, const route_args&);

// search_handlers.cpp: /v1/indexes/{name}/search, /search/batch
void search(services&, const context_ptr&, const route_args&);
void search_batch(services&, const context_ptr&, const route_args&);

// backup_handlers.cpp: /v1/indexes/{name}/snapshot and /restore
void backup_index(services&, const context_ptr&, const route_args&);
void restore_index(services&, const context_ptr&, const route_args&);

// matrix_handlers.cpp: /v1/embed, /v1/validate/{sms,email,fill}, /v1/matrix/outreach
void embed(services&, const context_ptr&, const route_args&);
void validate_sms(services&, const context_ptr&, const route_args&);
void validate_email(services&, const context_ptr&, const route_args&);
void validate_fill(services&, const context_ptr&, const route_args&);
void outreach(services&, const context_ptr&, const route_args&);

// matrix_search_handlers.cpp: /v1/matrix/search, /v1/matrix/playbooks/{name}[/record]
void matrix_search(services&, const context_ptr&, const route_args&);
void playbook_record(services&, const context_ptr&, const route_args&);
void get_playbook(services&, const context_ptr&, const route_args&);
void drop_playbook(services&, const context_ptr&, const route_args&);

// admin_handlers.cpp: /v1/admin/tenants...
void list_tenants(services&, const context_ptr&, const route_args&);
void create_tenant(services&, const context_ptr&, const route_args&);
void get_tenant(services&, const context_ptr&, const route_args&);
void drop_tenant(services&, const context_ptr&, const route_args&);
void rotate_tenant_key(services&, const context_ptr&, const route_args&);

}  // namespace quiver::gateway
