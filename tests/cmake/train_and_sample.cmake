# Runs a shortened examples/train_and_sample (--quick: 600 training steps, 1000 samples) end to
# end: training, sampling through the runtime registry, the energy distance, and the PNG and
# weight files. The program fails (exit 1) unless its samples are much closer to the data than
# Gaussian noise and within --max-ratio of the expected distance between two true sets.
if(TARGET train_and_sample)
  add_test(NAME train_and_sample_quick
    COMMAND train_and_sample --quick --quiet --max-ratio 20 --out ${CMAKE_CURRENT_BINARY_DIR}/train_and_sample_quick)
  set_tests_properties(train_and_sample_quick PROPERTIES TIMEOUT 120)
  # Bad values name the flag, the value and what is allowed, then print the usage (exit 2).
  diffuse_add_output_test(train_and_sample_bad_lr 2 "--lr = 0 is invalid; allowed: \\(0, 1\\].*usage: train_and_sample"
    train_and_sample --lr 0)
  diffuse_add_output_test(train_and_sample_bad_ema 2 "--ema = 1 is invalid; allowed: \\[0, 1\\)" train_and_sample --ema 1)
  diffuse_add_output_test(train_and_sample_bad_width 2 "--width = \"12abc\" is invalid; allowed: a number"
    train_and_sample --width 12abc)
endif()
# The ratio check is live: a quick run cannot reach a ratio of 0.2, so the program must say so (exit 1).
if(TARGET train_and_sample)
  diffuse_add_output_test(train_and_sample_ratio_check 1 "exceeds --max-ratio 0.2"
    train_and_sample --quick --quiet --max-ratio 0.2 --out ${CMAKE_CURRENT_BINARY_DIR}/train_and_sample_ratio_check)
  set_tests_properties(train_and_sample_ratio_check PROPERTIES TIMEOUT 120)
endif()
