// The runtime facade's sampler table for float and double, compiled once for all tests (they
// are built with DIFFUSE_EXTERN_REGISTRY, tests/CMakeLists.txt).
#include "diffuse/config/registry_instances.hpp"
