# The demo (README's main job) runs, writes its files and reports the energy distance; bad
# arguments print the usage and a clear error.
if(TARGET sample_gmm)
  add_test(NAME demo_sample_gmm
    COMMAND sample_gmm --sampler ddpm --steps 50 --count 800 --dataset checkerboard --out ${CMAKE_BINARY_DIR}/demo_test)
  set_tests_properties(demo_sample_gmm PROPERTIES PASS_REGULAR_EXPRESSION "energy distance to the target: [0-9.e-]+ \\(two independent true sets")
  add_test(NAME demo_sample_gmm_files
    COMMAND ${CMAKE_COMMAND} -E cat ${CMAKE_BINARY_DIR}/demo_test/samples.csv)
  set_tests_properties(demo_sample_gmm_files PROPERTIES DEPENDS demo_sample_gmm PASS_REGULAR_EXPRESSION "^x,y")
  # The score-SDE samplers (diffuse/sde) on the same demo: predictor-corrector on VE, PF-ODE on VP.
  add_test(NAME demo_sample_gmm_pc
    COMMAND sample_gmm --sampler pc --sde ve --steps 200 --count 800 --quiet --out ${CMAKE_BINARY_DIR}/demo_test_pc)
  set_tests_properties(demo_sample_gmm_pc PROPERTIES PASS_REGULAR_EXPRESSION "process ve, 400 model evaluations\nenergy distance to the target: [0-9.e-]+ \\(two independent true sets")
  add_test(NAME demo_sample_gmm_pf_ode
    COMMAND sample_gmm --sampler pf-ode --count 800 --quiet --out ${CMAKE_BINARY_DIR}/demo_test_pf_ode)
  set_tests_properties(demo_sample_gmm_pf_ode PROPERTIES PASS_REGULAR_EXPRESSION "process vp, [0-9]+ model evaluations\nenergy distance to the target: [0-9.e-]+ \\(two independent true sets")
  add_test(NAME demo_sample_gmm_bad_sampler COMMAND sample_gmm --sampler fancy)
  set_tests_properties(demo_sample_gmm_bad_sampler PROPERTIES
    PASS_REGULAR_EXPRESSION "--sampler = \"fancy\" is invalid; allowed: ddim, ddpm.*usage: sample_gmm")
  add_test(NAME demo_sample_gmm_bad_steps COMMAND sample_gmm --steps 0)
  set_tests_properties(demo_sample_gmm_bad_steps PROPERTIES PASS_REGULAR_EXPRESSION "num_inference_steps = 0")
  add_test(NAME demo_sample_gmm_bad_number COMMAND sample_gmm --count 12abc)
  set_tests_properties(demo_sample_gmm_bad_number PROPERTIES PASS_REGULAR_EXPRESSION "--count = \"12abc\" is invalid; allowed: a number")
endif()
