# The guidance example runs small, reports purity and energy distance per run, and writes its CSV;
# a bad argument prints a clear error.
if(TARGET guided_sampling)
  add_test(NAME example_guided_sampling
    COMMAND guided_sampling --steps 8 --count 300 --quiet --out ${CMAKE_BINARY_DIR}/guided_sampling_test)
  set_tests_properties(example_guided_sampling PROPERTIES PASS_REGULAR_EXPRESSION "cfg +4.00 +[0-9.]+ +[0-9.e-]+")
  add_test(NAME example_guided_sampling_bad_steps COMMAND guided_sampling --steps 0)
  set_tests_properties(example_guided_sampling_bad_steps PROPERTIES PASS_REGULAR_EXPRESSION "--steps = 0 is invalid")
endif()
