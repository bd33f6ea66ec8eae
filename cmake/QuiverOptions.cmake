# One INTERFACE target carries the project's warnings and sanitizer flags; every
# quiver target links it.
add_library(quiver_options INTERFACE)
target_compile_options(quiver_options INTERFACE -Wall -Wextra -Wpedantic)
target_include_directories(quiver_options INTERFACE ${PROJECT_SOURCE_DIR})

if(QUIVER_SANITIZE STREQUAL "address")
  target_compile_options(quiver_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(quiver_options INTERFACE -fsanitize=address,undefined)
elseif(QUIVER_SANITIZE STREQUAL "fuzz")
  # libFuzzer coverage on everything; the fuzz targets link the fuzzer's main.
  target_compile_options(quiver_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(quiver_options INTERFACE -fsanitize=address,undefined)
elseif(QUIVER_SANITIZE STREQUAL "thread")
  target_compile_options(quiver_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(quiver_options INTERFACE -fsanitize=thread)
elseif(NOT QUIVER_SANITIZE STREQUAL "")
  message(FATAL_ERROR "QUIVER_SANITIZE must be '', 'address', 'thread' or 'fuzz'")
endif()

# quiver_add_test(NAME SOURCES... LABELS l... LIBS t...): one GoogleTest binary whose
# tests are registered with CTest under the given tier labels.
function(quiver_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main quiver_options)
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
