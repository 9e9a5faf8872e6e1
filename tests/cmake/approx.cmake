# Every Approx in the tests states its relative and absolute slack (tests/check_approx.cmake).
add_test(NAME approx_states_epsilon_and_margin
  COMMAND ${CMAKE_COMMAND} -DTESTS_DIR=${CMAKE_CURRENT_SOURCE_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/check_approx.cmake)
