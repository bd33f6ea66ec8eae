// storaged: see daemons/README.md. Every daemon shares one main (daemon_main.cpp).
#include "daemons/common/daemon_main.hpp"

int main(int argc, char** argv) {
  return quiver::daemon_main(quiver::node_role::storaged, argc, argv);
}
