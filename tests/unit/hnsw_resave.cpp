// Test helper: hnswlib 0.6.2 itself loads a graph file (L2, the given dimension)
// and saves it again. Prints "<points> <deleted>". A program of its own: hnswlib's
// headers define non-inline functions, so only one translation unit of a binary
// may include them, and quiver_index_core has that one.
// Usage: hnsw_resave DIMENSION IN OUT
#include <hnswlib/hnswlib.h>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: hnsw_resave DIMENSION IN OUT\n");
    return 2;
  }
  try {
    hnswlib::L2Space space(std::stoul(argv[1]));
    hnswlib::HierarchicalNSW<float> graph(&space, argv[2]);
    graph.saveIndex(argv[3]);
    std::printf("%zu %zu\n", graph.cur_element_count, graph.num_deleted_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hnsw_resave: %s\n", e.what());
    return 1;
  }
  return 0;
}
