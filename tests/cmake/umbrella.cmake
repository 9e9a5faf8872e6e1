# The umbrella header lists every public header (test_umbrella.cpp compiles it whole).
add_test(NAME umbrella_lists_every_header
  COMMAND ${CMAKE_COMMAND} -DUMBRELLA=${PROJECT_SOURCE_DIR}/include/diffuse/diffuse.hpp
          -DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/include -P ${CMAKE_CURRENT_SOURCE_DIR}/check_umbrella.cmake)
