# A typed run's step() refuses a const x, a state, model output or noise buffer of the other precision with
# one readable static_assert (sampler/detail/stepping.hpp), not Eigen template errors. Each case
# compiles tests/compile_fail/typed_step.cpp (syntax only, a few seconds) and must fail with that
# message; the file without a case must compile (typed_step_compiles), so the cases fail for the
# reason they name.
get_target_property(diffuse_eigen_includes Eigen3::Eigen INTERFACE_INCLUDE_DIRECTORIES)
list(TRANSFORM diffuse_eigen_includes PREPEND -I)
set(diffuse_typed_step_compile ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror
    -I${PROJECT_SOURCE_DIR}/include ${diffuse_eigen_includes} ${CMAKE_CURRENT_SOURCE_DIR}/compile_fail/typed_step.cpp)
set(diffuse_state_message "x must be a writable buffer of the sampler.s scalar type T: not const, and of the same precision")
set(diffuse_output_message "the model output must be a buffer of the sampler.s scalar type T")
set(diffuse_noise_message "the noise must be a noise source .e.g. diffuse::random::generator. or a buffer of the sampler.s scalar type T")
diffuse_add_output_test(typed_step_compiles 0 ".*" ${diffuse_typed_step_compile})
foreach(case IN ITEMS const_x double_x double_output kdiffusion_const_x double_noise)
  if(case STREQUAL "double_output")
    set(message "${diffuse_output_message}")
  elseif(case STREQUAL "double_noise")
    set(message "${diffuse_noise_message}")
  else()
    set(message "${diffuse_state_message}")
  endif()
  diffuse_add_output_test(typed_step_refuses_${case} 1 "static.assert[^\n]*${message}"
    ${diffuse_typed_step_compile} -DDIFFUSE_CASE_${case})
  # one error, the static_assert: no Eigen instantiation and no overload failure behind it
  set_tests_properties(typed_step_refuses_${case} PROPERTIES FAIL_REGULAR_EXPRESSION "Eigen/src;no matching;error:.*error:")
endforeach()
