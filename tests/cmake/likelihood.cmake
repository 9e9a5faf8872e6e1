# Runs examples/likelihood small (a 24x24 density grid, 50 probes a point): it prints the PF-ODE
# log-density errors and writes density.png, and exits 1 unless the exact-divergence error is within
# --max-error and every Hutchinson mean within 5 standard errors of the exact value.
if(TARGET likelihood)
  diffuse_add_output_test(example_likelihood 0 "exact divergence: max \\|log p error\\| [0-9.]+e-[0-9]+ with the true p_T"
    likelihood --grid 24 --probes 50 --quiet --out ${CMAKE_BINARY_DIR}/likelihood_test)
  diffuse_add_output_test(example_likelihood_ve 0 "density grid 24x24"
    likelihood --sde ve --grid 24 --probes 50 --quiet --out ${CMAKE_BINARY_DIR}/likelihood_test_ve)
  diffuse_add_output_test(example_likelihood_bad_rtol 2 "--rtol = 0 is invalid" likelihood --rtol 0)
endif()
# The trained model: a brief train_and_sample (300 steps, width 32) writes model.bin and model.txt,
# then likelihood --model evaluates its PF-ODE log-density (finite-difference divergence, checked
# against Hutchinson: exit 1 on a miss) on test points, held-out data and a 16x16 grid.
if(TARGET likelihood AND TARGET train_and_sample)
  add_test(NAME example_likelihood_mlp_train
    COMMAND train_and_sample --quiet --iterations 300 --width 32 --count 200 --sets 2 --steps 20
            --out ${CMAKE_BINARY_DIR}/likelihood_mlp_test)
  set_tests_properties(example_likelihood_mlp_train PROPERTIES FIXTURES_SETUP likelihood_mlp_model TIMEOUT 60)
  diffuse_add_output_test(example_likelihood_mlp 0
    "held-out log-likelihood: mean -?[0-9.]+ nats .*exact mixture on the same points.*density grid 16x16"
    likelihood --model ${CMAKE_BINARY_DIR}/likelihood_mlp_test/model.bin --grid 16 --points 4 --probes 20
    --held-out 100 --quiet --out ${CMAKE_BINARY_DIR}/likelihood_mlp_test)
  set_tests_properties(example_likelihood_mlp PROPERTIES FIXTURES_REQUIRED likelihood_mlp_model TIMEOUT 60)
  diffuse_add_output_test(example_likelihood_mlp_bad_flag 2 "--sde, --dataset or --max-error.*none of them with --model"
    likelihood --model x.bin --sde ve)
  diffuse_add_output_test(example_likelihood_mlp_no_settings 2 "settings file = .*missing.txt.*is invalid"
    likelihood --model ${CMAKE_BINARY_DIR}/missing.bin)
endif()
