# factory_service: the secure factory service (init, add-station, run, ...).
add_executable(factory_service ${CMAKE_CURRENT_LIST_DIR}/factory_service/main.c
                               ${CMAKE_CURRENT_LIST_DIR}/common/tool_opt.c
                               ${CMAKE_CURRENT_LIST_DIR}/factory_service/ledger_cmd.c
                               ${CMAKE_CURRENT_LIST_DIR}/common/ledger_tool.c)
target_include_directories(factory_service PRIVATE ${CMAKE_CURRENT_LIST_DIR}/common)
target_link_libraries(factory_service PRIVATE kiln_sf_service)
