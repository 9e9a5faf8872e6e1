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
