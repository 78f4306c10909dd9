# Warnings every fthost target (host, plugins, tests) is built with.
add_library(fthost_warnings INTERFACE)
target_compile_options(fthost_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${FTHOST_WERROR}>>:-Werror>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${FTHOST_WERROR}>>:-Werror=all-warnings>)

if(FTHOST_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # GCC 12's flow analysis under the sanitizers' instrumentation reports a std::variant's inactive
  # string member as "maybe uninitialized"; the warning is reliable only without instrumentation.
  add_compile_options($<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-maybe-uninitialized>)
  add_link_options(-fsanitize=address,undefined)
endif()

find_program(FTHOST_CCACHE ccache)
if(FTHOST_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${FTHOST_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${FTHOST_CCACHE}")
endif()
