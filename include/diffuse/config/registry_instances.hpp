// diffuse/config/registry_instances.hpp: the one place a program compiles the runtime facade's
// sampler table, for float and double. Include it in exactly one .cpp of a program whose other
// translation units define DIFFUSE_EXTERN_REGISTRY (see registry.hpp), so that only this one
// instantiates every sampler.
#pragma once

#include "diffuse/config/registry.hpp"

namespace diffuse::config {

template std::map<std::string, factory<float>, std::less<>>& registry<float>();
template std::map<std::string, factory<double>, std::less<>>& registry<double>();

}  // namespace diffuse::config
