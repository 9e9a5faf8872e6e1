# Run by ctest (cmake -P): configures, builds and runs one consumer project of tests/consume/
# against this checkout, with the compiler and generator of the project's own build.
#
#   -DCONSUMER=fetchcontent|subdirectory|find_package   which tests/consume/<dir> to build
#   -DDIFFUSE_SOURCE_DIR=<checkout>  -DWORK_DIR=<scratch dir inside the project's build dir>
#   -DGENERATOR=... -DMAKE_PROGRAM=... -DCXX_COMPILER=... -DEigen3_DIR=...
#   -DPROJECT_BINARY_DIR=<the project's build dir>   (find_package: what `cmake --install` installs)
cmake_minimum_required(VERSION 3.21)

foreach(required IN ITEMS CONSUMER DIFFUSE_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${required}=... is required")
  endif()
endforeach()

set(consumer_source ${CMAKE_CURRENT_LIST_DIR}/${CONSUMER})
if(NOT EXISTS ${consumer_source}/CMakeLists.txt)
  message(FATAL_ERROR "run_consumer.cmake: no consumer project '${CONSUMER}' in ${CMAKE_CURRENT_LIST_DIR}")
endif()

# Every run starts from nothing, so no cache from an earlier run can hide a problem.
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs a command, echoing it first; stops the test with its output when it fails.
function(run_step description)
  message(STATUS "${description}: ${ARGN}")
  string(TIMESTAMP started "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  string(TIMESTAMP finished "%s")
  math(EXPR seconds "${finished} - ${started}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${description} failed (${result}):\n${output}")
  endif()
  message(STATUS "${description}: ok (${seconds} s)")
  set(step_output "${output}" PARENT_SCOPE)
endfunction()

set(configure_arguments -S ${consumer_source} -B ${consumer_build} -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DDIFFUSE_SOURCE_DIR=${DIFFUSE_SOURCE_DIR})
if(MAKE_PROGRAM)
  list(APPEND configure_arguments -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(Eigen3_DIR)
  list(APPEND configure_arguments -DEigen3_DIR=${Eigen3_DIR})
endif()

if(CONSUMER STREQUAL "find_package")
  if(NOT PROJECT_BINARY_DIR)
    message(FATAL_ERROR "run_consumer.cmake: the find_package consumer needs -DPROJECT_BINARY_DIR=<project build dir>")
  endif()
  set(prefix ${WORK_DIR}/prefix)
  run_step("install diffuse" ${CMAKE_COMMAND} --install ${PROJECT_BINARY_DIR} --prefix ${prefix})
  foreach(installed IN ITEMS include/diffuse/sampler/ddim.hpp share/diffuse/src/facade_float.cpp share/cmake/diffuse/diffuseConfig.cmake
                             share/cmake/diffuse/diffuseConfigVersion.cmake share/cmake/diffuse/diffuseTargets.cmake)
    if(NOT EXISTS ${prefix}/${installed})
      message(FATAL_ERROR "cmake --install did not install ${installed}")
    endif()
  endforeach()
  # Only the prefix may provide diffuse: the checkout must not leak in.
  list(APPEND configure_arguments -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
endif()

run_step("configure the ${CONSUMER} consumer" ${CMAKE_COMMAND} ${configure_arguments})
if(CONSUMER STREQUAL "find_package")
  file(STRINGS ${consumer_build}/CMakeCache.txt found_dir REGEX "^diffuse_DIR:")
  string(FIND "${found_dir}" "=${prefix}/" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "find_package found diffuse outside the install prefix ${prefix}: ${found_dir}")
  endif()
endif()
run_step("build the ${CONSUMER} consumer" ${CMAKE_COMMAND} --build ${consumer_build})
run_step("run the ${CONSUMER} consumer" ${consumer_build}/ddim_point_mass)
message(STATUS "${step_output}")
if(EXISTS ${consumer_build}/facade_point_mass)
  run_step("run the ${CONSUMER} consumer's facade program" ${consumer_build}/facade_point_mass)
  message(STATUS "${step_output}")
endif()
