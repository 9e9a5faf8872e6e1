# The xtensor adapter is tested when xtensor is installed (it is in scripts/install-deps).
find_package(xtensor QUIET)
if(xtensor_FOUND)
  add_executable(test_xtensor ${CMAKE_CURRENT_SOURCE_DIR}/optional/test_xtensor.cpp)
  target_link_libraries(test_xtensor PRIVATE diffuse_catch_main diffuse::diffuse diffuse_project_options xtensor)
  add_test(NAME test_xtensor COMMAND test_xtensor)
else()
  message(STATUS "diffuse: xtensor not found; the xtensor adapter test is skipped")
endif()
