# Shared by the consumer projects in tests/consume/*: the program they build and the checks
# that the library behaved like a well-mannered dependency.

# The checkout under test; run_consumer.cmake passes it in.
set(DIFFUSE_SOURCE_DIR "" CACHE PATH "The diffuse checkout to consume")

# Builds ddim_point_mass against diffuse::diffuse with strict warnings, so the public headers
# are proven warning-clean under a consumer's flags (no -march=native, no project options).
function(diffuse_consumer_program)
  add_executable(ddim_point_mass ${CMAKE_CURRENT_LIST_DIR}/../ddim_point_mass.cpp)
  target_link_libraries(ddim_point_mass PRIVATE diffuse::diffuse)
  target_compile_options(ddim_point_mass PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()

# Builds facade_point_mass against diffuse::facade (the compiled runtime facade; it exists when
# nlohmann/json is found, as on the CI machine), also with strict warnings.
function(diffuse_consumer_facade_program)
  if(NOT TARGET diffuse::facade)
    message(FATAL_ERROR "diffuse::facade is missing (is nlohmann/json installed?)")
  endif()
  add_executable(facade_point_mass ${CMAKE_CURRENT_LIST_DIR}/../facade_point_mass.cpp)
  target_link_libraries(facade_point_mass PRIVATE diffuse::facade)
  target_compile_options(facade_point_mass PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()

# A project that pulls diffuse in as a subproject must get the library only: its tests,
# examples, benchmarks and install rules default to PROJECT_IS_TOP_LEVEL, i.e. OFF here.
function(diffuse_consumer_require_library_only)
  foreach(option IN ITEMS DIFFUSE_BUILD_TESTS DIFFUSE_BUILD_EXAMPLES DIFFUSE_BUILD_BENCHMARKS DIFFUSE_INSTALL)
    if(${option})
      message(FATAL_ERROR "${option} is ON in a consumer; it must default to OFF when diffuse is not the top-level project")
    endif()
  endforeach()
  foreach(target IN ITEMS test_core test_ddim diffuse_catch_main)
    if(TARGET ${target})
      message(FATAL_ERROR "the consumer sees diffuse's internal target '${target}'")
    endif()
  endforeach()
endfunction()
