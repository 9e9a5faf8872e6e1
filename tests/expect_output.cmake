# Runs a command and checks both its exit code and its output (stdout and stderr together), for
# tests that match output: CTest's PASS_REGULAR_EXPRESSION alone ignores the exit code, so a
# program that printed the expected line and then crashed or failed would pass.
#   cmake -DEXIT_CODE=<n> -DREGEX=<regex> -P expect_output.cmake -- <program> <args>...
if(NOT DEFINED EXIT_CODE OR NOT DEFINED REGEX)
  message(FATAL_ERROR "expect_output.cmake: EXIT_CODE and REGEX are required")
endif()
set(command)
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    string(REPLACE ";" "\\;" argument "${CMAKE_ARGV${i}}")  # a ';' inside an argument stays in it
    list(APPEND command "${argument}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "expect_output.cmake: no command after --")
endif()
execute_process(COMMAND ${command} RESULT_VARIABLE exit_code OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
if(NOT exit_code STREQUAL "${EXIT_CODE}")
  message(FATAL_ERROR "exit code ${exit_code}, expected ${EXIT_CODE}")
endif()
if(NOT output MATCHES "${REGEX}")
  message(FATAL_ERROR "the output does not match ${REGEX}")
endif()
