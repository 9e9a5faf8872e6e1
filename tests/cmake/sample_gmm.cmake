# The demo (README's main job) runs, writes its files and reports the energy distance (exit 0);
# bad arguments print the usage and a clear error (exit 2).
if(TARGET sample_gmm)
  diffuse_add_output_test(demo_sample_gmm 0 "energy distance to the target: [0-9.e-]+ \\(two independent true sets"
    sample_gmm --sampler ddpm --steps 50 --count 800 --dataset checkerboard --out ${CMAKE_BINARY_DIR}/demo_test)
  diffuse_add_output_test(demo_sample_gmm_files 0 "^x,y" ${CMAKE_COMMAND} -E cat ${CMAKE_BINARY_DIR}/demo_test/samples.csv)
  set_tests_properties(demo_sample_gmm_files PROPERTIES DEPENDS demo_sample_gmm)
  # The score-SDE samplers (diffuse/sde) on the same demo: predictor-corrector on VE, PF-ODE on VP.
  diffuse_add_output_test(demo_sample_gmm_pc 0
    "process ve, 400 model evaluations.energy distance to the target: [0-9.e-]+ \\(two independent true sets"
    sample_gmm --sampler pc --sde ve --steps 200 --count 800 --quiet --out ${CMAKE_BINARY_DIR}/demo_test_pc)
  diffuse_add_output_test(demo_sample_gmm_pf_ode 0
    "process vp, [0-9]+ model evaluations.energy distance to the target: [0-9.e-]+ \\(two independent true sets"
    sample_gmm --sampler pf-ode --count 800 --quiet --out ${CMAKE_BINARY_DIR}/demo_test_pf_ode)
  diffuse_add_output_test(demo_sample_gmm_bad_sampler 2
    "--sampler = \"fancy\" is invalid; allowed: ddim, ddpm.*usage: sample_gmm" sample_gmm --sampler fancy)
  diffuse_add_output_test(demo_sample_gmm_bad_steps 2 "num_inference_steps = 0" sample_gmm --steps 0)
  diffuse_add_output_test(demo_sample_gmm_bad_number 2 "--count = \"12abc\" is invalid; allowed: a number"
    sample_gmm --count 12abc)
endif()
