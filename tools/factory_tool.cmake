# factory_tool: the factory PC's command-line tool. Every command file in tools/factory_tool/
# is compiled in; the libraries of the line and station parts are linked when they exist.
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
file(GLOB FACTORY_TOOL_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/factory_tool/*.c)
add_executable(factory_tool ${FACTORY_TOOL_SOURCES})
target_include_directories(factory_tool PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/factory_tool
                                                ${CMAKE_SOURCE_DIR}/src/common)
target_link_libraries(factory_tool PRIVATE kiln_fcu PkgConfig::JANSSON)
if(TARGET kiln_line)
  target_link_libraries(factory_tool PRIVATE kiln_line)
endif()
if(TARGET kiln_station)
  target_link_libraries(factory_tool PRIVATE kiln_station)
endif()
