// The runtime facade's sampler table for double, compiled once for all tests (they are built with
// DIFFUSE_EXTERN_REGISTRY, tests/CMakeLists.txt). diffuse/config/registry_instances.hpp
// instantiates both types in one translation unit; here each type has its own, so that the two
// longest compiles of the suite run in parallel.
#include "diffuse/config/registry.hpp"

template std::map<std::string, diffuse::config::factory<double>, std::less<>>& diffuse::config::registry<double>();
