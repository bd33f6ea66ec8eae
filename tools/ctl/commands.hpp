#pragma once
// quiverctl's commands. Each takes the words after its name, prints its result
// (a table, or the server's JSON with --output json) and returns an exit code;
// failures throw ctl_error.

#include <string>
#include <vector>

namespace quiver::ctl {

using words = std::vector<std::string>;
class args;

// The body of POST /v1/indexes from --distance, --m, --ef-construction,
// --ef-search, --shards and --replicas (commands.cpp).
std::string create_index_body(const args& a, const std::string& name, std::size_t dimension);

int indexes_command(const words& argv);      // commands.cpp
int search_command(const words& argv);       // commands.cpp
int get_command(const words& argv);          // commands.cpp
int tenants_command(const words& argv);      // commands.cpp
int cluster_command(const words& argv);      // commands.cpp
int import_command(const words& argv);       // import.cpp
int import_seed_command(const words& argv);  // seed_import.cpp
int backup_command(const words& argv);       // backup.cpp
int restore_command(const words& argv);      // backup.cpp

}  // namespace quiver::ctl
