# The README's usage example is examples/quickstart.cpp, included verbatim: this test fails when
# the two drift apart, and the example itself runs as a test.
add_test(NAME readme_example_is_verbatim
  COMMAND ${CMAKE_COMMAND} -DREADME=${PROJECT_SOURCE_DIR}/README.md
          -DEXAMPLE=${PROJECT_SOURCE_DIR}/examples/quickstart.cpp -P ${CMAKE_CURRENT_SOURCE_DIR}/check_readme.cmake)
if(TARGET quickstart)
  add_test(NAME readme_example_runs COMMAND quickstart)
endif()
