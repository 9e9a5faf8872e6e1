# The three ways to consume diffuse, each proven by configuring, building and running a tiny
# outside project (tests/consume/) with this build's compiler. Labelled `consume` so the
# sanitizer pass of scripts/test can skip them (they do not use the sanitizer flags anyway).
foreach(consumer IN ITEMS fetchcontent subdirectory find_package)
  if(consumer STREQUAL "find_package" AND NOT DIFFUSE_INSTALL)
    continue()  # nothing to install from this build
  endif()
  add_test(NAME consume_${consumer}
    COMMAND ${CMAKE_COMMAND}
      -DCONSUMER=${consumer}
      -DDIFFUSE_SOURCE_DIR=${PROJECT_SOURCE_DIR}
      -DWORK_DIR=${PROJECT_BINARY_DIR}/consume/${consumer}
      -DPROJECT_BINARY_DIR=${PROJECT_BINARY_DIR}
      -DGENERATOR=${CMAKE_GENERATOR}
      -DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}
      -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
      -DEigen3_DIR=${Eigen3_DIR}
      -P ${PROJECT_SOURCE_DIR}/tests/consume/run_consumer.cmake)
  set_tests_properties(consume_${consumer} PROPERTIES LABELS consume TIMEOUT 180)
  if(consumer STREQUAL "find_package")
    # It also compiles diffuse::facade (the sampler table, about a minute of CPU at -O3).
    set_tests_properties(consume_${consumer} PROPERTIES TIMEOUT 900)
  endif()
endforeach()
