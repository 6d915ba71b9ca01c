# make deb: Debian packages from the install rules (cpack -G DEB, one package per component).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kiln)
set(CPACK_PACKAGE_VENDOR "kiln")
set(CPACK_PACKAGE_CONTACT "kiln developers <kiln@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Factory provisioning for IoT devices")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_COMPONENTS_ALL libs dev tools service python)

set(CPACK_DEBIAN_LIBS_PACKAGE_NAME libkiln0)
set(CPACK_COMPONENT_LIBS_DESCRIPTION "kiln shared libraries: configurator, device library, factory line")
set(CPACK_DEBIAN_LIBS_PACKAGE_SECTION libs)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libkiln-dev)
set(CPACK_COMPONENT_DEV_DESCRIPTION "kiln headers, static libraries and pkg-config files")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libkiln0 (= ${PROJECT_VERSION}), libssl-dev, libmbedtls-dev, libcbor-dev, libyaml-dev, libjansson-dev, libsqlite3-dev, libcurl4-openssl-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME kiln-tools)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "factory_tool (configurator, factory line, station) and factory_client")

set(CPACK_DEBIAN_SERVICE_PACKAGE_NAME kiln-factory-service)
set(CPACK_COMPONENT_SERVICE_DESCRIPTION "the kiln secure factory service, with its systemd unit")
set(CPACK_DEBIAN_SERVICE_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/postinst;${CMAKE_SOURCE_DIR}/packaging/conffiles")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-kiln-fcu)
set(CPACK_COMPONENT_PYTHON_DESCRIPTION "the configurator's Python API (import fcu)")
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "libkiln0 (= ${PROJECT_VERSION}), python3, python3-cffi")
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
include(CPack)
