# factory_client: the simulated device. Command files of other parts (transports, secure
# factory) live beside main.c and are linked in when present.
file(GLOB FACTORY_CLIENT_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/factory_client/*.c)
add_executable(factory_client ${FACTORY_CLIENT_SOURCES} ${CMAKE_CURRENT_SOURCE_DIR}/common/tool_opt.c)
target_include_directories(factory_client PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/factory_client
                                                  ${CMAKE_CURRENT_SOURCE_DIR}/common
                                                  ${CMAKE_SOURCE_DIR}/src/device
                                                  ${CMAKE_SOURCE_DIR}/src/common)
target_link_libraries(factory_client PRIVATE kiln_port_linux kiln_device kiln_common Threads::Threads)
foreach(optional kiln_kv_flash kiln_device_sf kiln_fc_transport)
  if(TARGET ${optional})
    target_link_libraries(factory_client PRIVATE ${optional})
  endif()
endforeach()
