# fthost_add_plugin(<name> <sources>...)
# Builds libfthost-<name>.so against fthost::sdk with hidden visibility, exporting the descriptor
# alias and nothing else. The host only looks at files named libfthost-*.so. Set
# FTHOST_PLUGIN_OUTPUT_DIR to choose where the library lands.
function(fthost_add_plugin name)
  set(export_map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/fthost_plugin_exports.map")
  set(target fthost_plugin_${name})
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE fthost::sdk)
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME "fthost-${name}"
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED FTHOST_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${FTHOST_PLUGIN_OUTPUT_DIR}")
  endif()
  # A plugin that leaves a symbol unresolved fails at link time, not when the host loads it.
  target_link_options(${target} PRIVATE "LINKER:--no-undefined"
                      "LINKER:--version-script=${export_map}")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${export_map}")
endfunction()
