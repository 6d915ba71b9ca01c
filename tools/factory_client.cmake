# factory_client: the simulated device, a thin front (options, device setup, printing) over the
# device library; its transports are the FTCD listener's Linux adapters (src/device/port/linux).
file(GLOB FACTORY_CLIENT_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/factory_client/*.c)
add_executable(factory_client ${FACTORY_CLIENT_SOURCES} ${CMAKE_CURRENT_SOURCE_DIR}/common/tool_opt.c)
target_include_directories(factory_client PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/factory_client
                                                  ${CMAKE_CURRENT_SOURCE_DIR}/common
                                                  ${CMAKE_SOURCE_DIR}/src/device
                                                  ${CMAKE_SOURCE_DIR}/src/common)
target_link_libraries(factory_client PRIVATE kiln_port_linux kiln_ftcd kiln_device kiln_common
                                             Threads::Threads)
foreach(optional kiln_kv_flash kiln_device_sf)
  if(TARGET ${optional})
    target_link_libraries(factory_client PRIVATE ${optional})
  endif()
endforeach()
