# The guidance example runs small, reports purity and energy distance per run, and writes its CSV;
# a bad argument prints a clear error (exit 2).
if(TARGET guided_sampling)
  diffuse_add_output_test(example_guided_sampling 0 "cfg +4.00 +[0-9.]+ +[0-9.e-]+"
    guided_sampling --steps 8 --count 300 --quiet --out ${CMAKE_BINARY_DIR}/guided_sampling_test)
  diffuse_add_output_test(example_guided_sampling_bad_steps 2 "--steps = 0 is invalid" guided_sampling --steps 0)
endif()
