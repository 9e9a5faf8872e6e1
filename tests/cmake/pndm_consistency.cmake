# The PNDM/iPNDM convergence test evaluates the Gaussian-mixture network some 30,000 times (the
# harness's RK4 reference solution included); unoptimized Eigen under the sanitizers would take
# minutes, so this one test is optimized in Debug builds too (the sanitizers stay on).
if(CMAKE_BUILD_TYPE STREQUAL "Debug")
  target_compile_options(test_convergence_pndm PRIVATE -O1)
endif()
