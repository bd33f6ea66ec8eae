# A Debian package of the daemons, quiver-load, the configs and a systemd unit per
# daemon (`cpack -G DEB` in a release build tree, or scripts/package). The data dir
# is /var/lib/quiver, owned by the `quiver` system user that postinst creates.
install(TARGETS quiver storaged vectord gatewayd quiver-load quiverctl RUNTIME DESTINATION bin)
install(FILES configs/standalone.toml configs/cluster-3node.toml configs/cluster-storaged.toml
  DESTINATION /etc/quiver)
install(FILES packaging/systemd/quiver.service packaging/systemd/quiver-storaged.service
  packaging/systemd/quiver-vectord.service packaging/systemd/quiver-gatewayd.service
  DESTINATION /lib/systemd/system)
foreach(daemon storaged vectord gatewayd)
  install(FILES packaging/debian/quiver-${daemon}.default DESTINATION /etc/default
    RENAME quiver-${daemon})
endforeach()
install(FILES README.md docs/API.md docs/openapi.yaml DESTINATION share/doc/quiver)
install(FILES configs/README.md DESTINATION share/doc/quiver RENAME configs.md)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME quiver)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Quiver: HNSW vector search, durable, sharded and multi-tenant")
set(CPACK_PACKAGE_DESCRIPTION
  "The standalone server (quiver), the three-process and cluster daemons (storaged, vectord, gatewayd), the load harness (quiver-load) and the command line (quiverctl). Built for x86-64-v3 (AVX2).")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Quiver developers <quiver@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "etcd-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)  # the build's debug info is 280 MB a binary
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
include(CPack)
