# factory_tool: the factory PC's command-line tool: argument handling and printing over the
# configurator (kiln_fcu), the line (kiln_line) and the station client (kiln_station).
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
file(GLOB FACTORY_TOOL_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/factory_tool/*.c)
add_executable(factory_tool ${FACTORY_TOOL_SOURCES} ${CMAKE_CURRENT_SOURCE_DIR}/common/tool_opt.c
                            ${CMAKE_CURRENT_SOURCE_DIR}/common/ledger_tool.c)
target_include_directories(factory_tool PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/factory_tool
                                                ${CMAKE_CURRENT_SOURCE_DIR}/common
                                                ${CMAKE_SOURCE_DIR}/src/common)
target_link_libraries(factory_tool PRIVATE kiln_fcu kiln_line kiln_ledger kiln_ledger_pg
                      PkgConfig::JANSSON)
if(TARGET kiln_station)
  target_link_libraries(factory_tool PRIVATE kiln_station)
endif()
