// quiverctl: the operator's command line for Quiver. It talks HTTP only, like
// quiver-load; `quiverctl --help` and tools/README.md say how.

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/ctl/commands.hpp"
#include "tools/ctl/session.hpp"

using namespace quiver::ctl;

namespace {

struct command {
  const char* name;
  int (*run)(const words&);
  const char* usage;
};

const command commands[] = {
    {"indexes", indexes_command,
     "quiverctl indexes list\n"
     "quiverctl indexes create NAME --dimension D [--distance cosine|euclidean|dot] [--m 16]\n"
     "                 [--ef-construction 200] [--ef-search 64] [--shards 1] [--replicas 1]\n"
     "                 [--embedder NAME]\n"
     "quiverctl indexes describe NAME\n"
     "quiverctl indexes drop NAME --yes\n"
     "\n"
     "Lists, creates, describes and drops the indexes of the tenant the key selects.\n"
     "Creating an index that exists with the same parameters succeeds and changes nothing.\n"
     "--embedder names what turns a text into its vectors (search --text, upserts with\n"
     "\"text\"): the built-in hash-v1 (any dimension 8-4096), or one the server's config\n"
     "names in [embedders.NAME] (its own dimension).\n"},
    {"import", import_command,
     "quiverctl import FILE --index NAME [--create [--distance D] [--shards N] [--replicas N]\n"
     "                 [--m M] [--ef-construction E] [--ef-search E]] [--format F]\n"
     "                 [--ids FILE | --id-column K] [--id-prefix P] [--batch 500] [--parallel 2]\n"
     "                 [--restart] [--checkpoint FILE] [--no-progress]\n"
     "\n"
     "Upserts every record of FILE into the index, with a progress bar, rate and ETA.\n"
     "Formats (from the extension, or --format):\n"
     "  jsonl  one {\"id\": \"...\", \"vector\": [...], \"metadata\"?: {...}} per line\n"
     "  fvecs  int32 dimension + float32 components per record (the TEXMEX format)\n"
     "  bvecs  int32 dimension + uint8 components per record\n"
     "  npy    a 2-D float32 array in C order (numpy.save)\n"
     "Vector files take their ids from --ids FILE (one per line), from column K of an .npy\n"
     "(--id-column K: integral values, not part of the vector), or the row number, each\n"
     "after --id-prefix. The whole file is checked before the first record is sent (ids,\n"
     "dimension, finite components, no zero vector under cosine, metadata objects): a bad\n"
     "file changes nothing. --create creates a missing index with the file's dimension.\n"
     "\n"
     "Interrupted (Ctrl-C, a lost connection, a server that failed)? Run the same command\n"
     "again: it resumes after the last acknowledged batch (upserts are idempotent). The\n"
     "checkpoint lives in $XDG_STATE_HOME/quiverctl (or ~/.local/state/quiverctl) and is\n"
     "removed when the import completes; --restart ignores it.\n"},
    {"import-seed", import_seed_command,
     "quiverctl import-seed ENVELOPE GRAPH [--index NAME] [--shards N] [--replicas N]\n"
     "                 [--ef-construction 200] [--check 100] [--batch 500] [--parallel 2]\n"
     "                 [--restart] [--no-progress]\n"
     "\n"
     "Rebuilds an index of the seed's Go vectord: ENVELOPE is its JSON envelope (versions\n"
     "1 and 2), GRAPH the coder/hnsw v0.6.1 Export stream written beside it. The index\n"
     "(named as in the envelope unless --index) is created with the seed's dimension,\n"
     "distance (cosine or euclidean: the same definitions), M and ef_search. Ids without\n"
     "metadata come along: a v2 envelope lists them, and from a v1 envelope every node of\n"
     "the graph is taken. Metadata is sent exactly as the envelope holds it. At the end\n"
     "the index's count is checked and --check sampled records are read back and compared\n"
     "(vector and metadata). Resumable like import.\n"},
    {"backup", backup_command,
     "quiverctl backup INDEX FILE\n"
     "\n"
     "Writes a consistent backup of the index to FILE: every shard's snapshot as of the\n"
     "moment it is asked (writes go on meanwhile), its parameters and payload indexes,\n"
     "each part checksummed. Streamed to disk (FILE.part until complete).\n"},
    {"restore", restore_command,
     "quiverctl restore FILE --index NAME [--shards N] [--replicas N]\n"
     "\n"
     "Rebuilds an index named NAME from a backup, on this server or any other (a\n"
     "standalone or a cluster). NAME must not exist. The backup's parameters are kept,\n"
     "except --shards and --replicas (a single node takes --replicas 1). A damaged or\n"
     "incompatible file is refused whole and changes nothing; a restore that fails\n"
     "midway (a quota, a full disk) drops the index it made.\n"},
    {"search", search_command,
     "quiverctl search INDEX (--vector '[0.1, ...]' | --like ID | --text '...') [--k 10] [--ef N]\n"
     "                 [--filter '{\"field\": ...}'] [--exclude ID,ID] [--vectors]\n"
     "\n"
     "The k nearest vectors to the query (--like ID: to the stored vector of ID; --text:\n"
     "to the text, for an index that names an embedder), with distance and metadata;\n"
     "--filter takes the API's filter JSON (docs/API.md).\n"},
    {"get", get_command,
     "quiverctl get INDEX ID\n"
     "\n"
     "One stored vector and its metadata.\n"},
    {"tenants", tenants_command,
     "quiverctl tenants list\n"
     "quiverctl tenants create NAME [--max-indexes N] [--max-vectors N] [--max-bytes N]\n"
     "                 [--max-requests-per-s N]\n"
     "quiverctl tenants get NAME\n"
     "quiverctl tenants drop NAME --yes\n"
     "quiverctl tenants rotate-key NAME\n"
     "\n"
     "Tenant administration; needs the admin key (auth on). create and rotate-key print\n"
     "the tenant's new API key on stdout: it is shown only then. Quota 0 = unlimited.\n"},
    {"cluster", cluster_command,
     "quiverctl cluster status\n"
     "\n"
     "Nodes (up or down) and every shard's replicas: role, state, applied seq, lag and\n"
     "whether it is in sync. Needs the admin key when auth is on.\n"},
};

const char* global_help =
    "quiverctl: the command line for a Quiver server (standalone, gateway or cluster).\n"
    "\n"
    "usage: quiverctl COMMAND [ARGS] [--url URL] [--key KEY] [--output table|json]\n"
    "                 [--timeout SECONDS] [--quiet]\n"
    "\n"
    "commands:\n"
    "  indexes list|create|describe|drop   manage indexes\n"
    "  import FILE --index NAME            load JSONL, .fvecs, .bvecs or .npy (resumable)\n"
    "  import-seed ENVELOPE GRAPH          rebuild an index of the seed's Go vectord\n"
    "  backup INDEX FILE                   a consistent backup of an index\n"
    "  restore FILE --index NAME           rebuild an index from a backup\n"
    "  search INDEX --vector V | --like ID nearest neighbours\n"
    "  get INDEX ID                        one vector and its metadata\n"
    "  tenants list|create|get|drop|rotate-key   tenant administration (admin key)\n"
    "  cluster status                      nodes, shards, replicas and lag\n"
    "  quiverctl COMMAND --help            one command's options\n"
    "\n"
    "options:\n"
    "  --url URL         the server, http://HOST[:PORT] (default $QUIVER_URL, else\n"
    "                    http://127.0.0.1:4210)\n"
    "  --key KEY         the API key (default $QUIVER_KEY); needed when auth is on: a\n"
    "                    tenant's key for indexes, the admin key for tenants and cluster\n"
    "  --output FORMAT   table (default) or json (the server's answer, one line)\n"
    "  --timeout S       per request (default 60); 429 and 503 are retried after\n"
    "                    Retry-After for up to 2 minutes\n"
    "  --quiet           no progress or notes on stderr\n"
    "\n"
    "exit codes:\n"
    "  0 done   1 the server refused or failed   2 bad command line   3 no server answers\n"
    "  4 not found (index, vector, tenant)   5 auth (missing, wrong or insufficient key)\n"
    "  6 a bad input file (nothing was sent)\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
    std::fputs(global_help, all.empty() ? stderr : stdout);
    return all.empty() ? exit_usage : exit_ok;
  }
  for (auto& c : commands) {
    if (all[0] != c.name) continue;
    words rest(all.begin() + 1, all.end());
    for (auto& w : rest) {
      if (w == "--") break;
      if (w == "--help" || w == "-h") {
        std::fputs(c.usage, stdout);
        return exit_ok;
      }
    }
    try {
      return c.run(rest);
    } catch (const ctl_error& e) {
      std::fprintf(stderr, "quiverctl %s: %s\n", c.name, e.what());
      if (e.code == exit_usage) std::fprintf(stderr, "see: quiverctl %s --help\n", c.name);
      return e.code;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "quiverctl %s: %s\n", c.name, e.what());
      return exit_failed;
    }
  }
  std::fprintf(stderr, "quiverctl: unknown command '%s'; see quiverctl --help\n", all[0].c_str());
  return exit_usage;
}
