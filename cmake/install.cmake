# Installing kiln: programs, shared and static libraries, public headers, pkg-config files, man
# pages, bash completion and the Python module `fcu`.
#
# The build is made of small internal static archives (kiln_fcu, kiln_common, ...). Each
# installed library is one of those groups linked as a whole: libkiln-NAME.so.MAJOR (exporting
# only its API prefixes, see cmake/kiln-NAME.map) and libkiln-NAME.a (the same archives merged
# into one, so `pkg-config --static` users need no internal names).
include(GNUInstallDirs)

# libkiln-NAME from the internal archives in PARTS (those that exist in this build), exporting
# the symbol patterns of cmake/kiln-NAME.map. REQUIRES / LIBS_PRIVATE go to the .pc file.
function(kiln_install_library name description requires libs_private)
  set(parts)
  foreach(part ${ARGN})
    if(TARGET ${part})
      list(APPEND parts ${part})
    endif()
  endforeach()
  set(target kiln-${name})
  # The parts' objects make the library; linking the parts too brings their external
  # dependencies (an archive member is only pulled for a symbol still undefined: none is).
  set(objects)
  foreach(part ${parts})
    list(APPEND objects $<TARGET_OBJECTS:${part}>)
  endforeach()
  add_library(${target} SHARED ${objects})
  # Another installed library this one calls (KILN_SHARED_DEPS) comes first, so its code is
  # taken from it instead of copied in from the internal archives.
  target_link_libraries(${target} PRIVATE ${KILN_SHARED_DEPS} ${parts})
  set(map ${CMAKE_SOURCE_DIR}/cmake/${target}.map)
  target_link_options(${target} PRIVATE -Wl,--version-script=${map} -Wl,--as-needed)
  if(NOT KILN_SANITIZE AND NOT KILN_FUZZ) # sanitizer runtimes resolve only in the program
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  set_target_properties(${target} PROPERTIES VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR} LINK_DEPENDS ${map}
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT libs
          NAMELINK_COMPONENT dev)

  # The static twin: the parts' archives merged with ar's MRI script.
  set(archive ${CMAKE_BINARY_DIR}/lib/lib${target}.a)
  set(mri "create ${archive}\n")
  foreach(part ${parts})
    string(APPEND mri "addlib $<TARGET_FILE:${part}>\n")
  endforeach()
  string(APPEND mri "save\nend\n")
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/generated/${target}.mri CONTENT "${mri}")
  add_custom_command(OUTPUT ${archive}
                     COMMAND ${CMAKE_COMMAND} -E remove -f ${archive}
                     COMMAND ${CMAKE_AR} -M < ${CMAKE_BINARY_DIR}/generated/${target}.mri
                     DEPENDS ${parts} VERBATIM)
  add_custom_target(${target}-static ALL DEPENDS ${archive})
  install(FILES ${archive} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

  set(KILN_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(KILN_PC_NAME ${target})
  set(KILN_PC_DESCRIPTION "${description}")
  set(KILN_PC_REQUIRES "${requires}")
  set(KILN_PC_LIBS_PRIVATE "${libs_private}")
  set(KILN_PC_REQUIRES_PUBLIC "${KILN_PC_REQUIRES_PUBLIC}")
  set(KILN_PC_EXTRA_CFLAGS "${KILN_PC_EXTRA_CFLAGS}")
  configure_file(${CMAKE_SOURCE_DIR}/cmake/kiln.pc.in ${CMAKE_BINARY_DIR}/generated/${target}.pc.in
                 @ONLY)
  # The prefix is only known at install time (cmake --install --prefix P): write it then.
  install(CODE "
    file(READ \"${CMAKE_BINARY_DIR}/generated/${target}.pc.in\" pc)
    string(REPLACE \"${CMAKE_INSTALL_PREFIX}\" \"\${CMAKE_INSTALL_PREFIX}\" pc \"\${pc}\")
    file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/${target}.pc\" \"\${pc}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/${target}.pc\")"
    COMPONENT dev)
endfunction()

kiln_install_library(fcu "kiln configurator: certificate authority, device bundles, answers"
  "libcrypto yaml-0.1 libcbor" "-lmbedcrypto"
  kiln_fcu kiln_pki kiln_common)
kiln_install_library(device "kiln device library: FCC and KCM over Mbed TLS, Linux port"
  "libcbor" "-Wl,-u,kiln_linux_use_default_device -lmbedx509 -lmbedcrypto -lpthread"
  kiln_device kiln_device_sf kiln_ftcd kiln_kv_flash kiln_port_linux kiln_common)
# The line engine calls the configurator: libkiln-line needs libkiln-fcu. Its headers (and the
# two wire-format headers they include) are installed in include/kiln/line/.
set(KILN_SHARED_DEPS kiln-fcu)
set(KILN_PC_REQUIRES_PUBLIC kiln-fcu)
set(KILN_PC_EXTRA_CFLAGS "-I\${includedir}/kiln/line")
kiln_install_library(line "kiln factory line: transports, device lists, records, relay"
  "libcrypto jansson sqlite3 libcbor libcurl" "-lmbedcrypto"
  kiln_line kiln_station kiln_common)
unset(KILN_SHARED_DEPS)
unset(KILN_PC_REQUIRES_PUBLIC)
unset(KILN_PC_EXTRA_CFLAGS)
file(GLOB KILN_LINE_HEADERS ${CMAKE_SOURCE_DIR}/src/host/line/*.h
     ${CMAKE_SOURCE_DIR}/src/host/station/kiln_station.h)
# The frame codec's header is the device listener's too (include/kiln/ftcd.h includes it).
install(FILES ${CMAKE_SOURCE_DIR}/src/common/ftcd_frame.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev)
install(FILES ${KILN_LINE_HEADERS} ${CMAKE_SOURCE_DIR}/src/common/sf_msg.h ${CMAKE_SOURCE_DIR}/src/common/fcc_bundle_fields.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln/line COMPONENT dev)

install(TARGETS factory_tool factory_client RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
install(TARGETS factory_service RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT service)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/factory_service.service
        DESTINATION lib/systemd/system COMPONENT service)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/kiln-sf.sysusers DESTINATION lib/sysusers.d
        RENAME kiln-sf.conf COMPONENT service)
# /etc only in the package (a prefix install must not write the real /etc).
install(FILES ${CMAKE_SOURCE_DIR}/packaging/factory_service.default DESTINATION /etc/default
        RENAME factory_service COMPONENT service EXCLUDE_FROM_ALL)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev FILES_MATCHING PATTERN "*.h" PATTERN "*.def")

# The Python module finds libkiln-fcu.so relative to itself, so the installed tree can move.
# Debian's python3 reads PREFIX/lib/python3/dist-packages (for /usr) whatever the libdir.
set(KILN_PYTHON_DIR lib/python3/dist-packages)
file(RELATIVE_PATH KILN_PYTHON_TO_LIBDIR ${CMAKE_BINARY_DIR}/p/${KILN_PYTHON_DIR}/fcu
     ${CMAKE_BINARY_DIR}/p/${CMAKE_INSTALL_LIBDIR})
configure_file(${CMAKE_SOURCE_DIR}/python/fcu/_build.py.in ${CMAKE_BINARY_DIR}/python/fcu/_build.py
               @ONLY)
install(FILES ${CMAKE_SOURCE_DIR}/python/fcu/__init__.py ${CMAKE_BINARY_DIR}/python/fcu/_build.py
        DESTINATION ${KILN_PYTHON_DIR}/fcu COMPONENT python)

if(EXISTS ${CMAKE_SOURCE_DIR}/man)
  file(GLOB KILN_MAN1 ${CMAKE_SOURCE_DIR}/man/*.1)
  file(GLOB KILN_MAN3 ${CMAKE_SOURCE_DIR}/man/*.3)
  install(FILES ${KILN_MAN1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tools)
  install(FILES ${KILN_MAN3} DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT dev)
endif()

# bash-completion loads share/bash-completion/completions/NAME when NAME is first completed: the
# one script (it completes all three programs) under each program's name.
set(KILN_COMPLETIONS ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
foreach(program factory_tool factory_client)
  install(FILES ${CMAKE_SOURCE_DIR}/completion/kiln.bash DESTINATION ${KILN_COMPLETIONS}
          RENAME ${program} COMPONENT tools)
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/completion/kiln.bash DESTINATION ${KILN_COMPLETIONS}
        RENAME factory_service COMPONENT service)

include(${CMAKE_SOURCE_DIR}/packaging/cpack.cmake)
