# Runs a shortened examples/train_and_sample (300 training steps) end to end: training, sampling
# through the runtime registry, the energy distance, and the PNG and weight files. The program
# fails unless its samples are much closer to the data than Gaussian noise.
if(TARGET train_and_sample)
  add_test(NAME train_and_sample_quick
    COMMAND train_and_sample --quick --quiet --out ${CMAKE_CURRENT_BINARY_DIR}/train_and_sample_quick)
  set_tests_properties(train_and_sample_quick PROPERTIES TIMEOUT 120)
endif()
