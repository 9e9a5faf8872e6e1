// Compiles the tests' precompiled header (tests/CMakeLists.txt); defines nothing.
