// diffuse/config/facade.hpp: the runtime facade's entry points, declared without the sampler table.
//
// make_sampler and from_scheduler_config_* build any of the library's samplers from a name or a
// diffusers scheduler_config.json, so their definitions instantiate every sampler: tens of seconds
// of compile time in each translation unit that sees them (registry.hpp, scheduler_config.hpp).
// This header only declares them. Either link the compiled facade (CMake target diffuse::facade,
// which compiles the definitions once for float and double) and include nothing heavier than this
// header, or include scheduler_config.hpp (or registry.hpp) somewhere in the program, which defines
// them (docs/config.md, "Compile time").
#pragma once

#include <filesystem>
#include <string_view>

#include "diffuse/config/any_sampler.hpp"
#include "diffuse/config/options.hpp"

namespace diffuse::config {

// Keys nobody reads: ignored with a message in the sampler's warnings() (diffusers' behaviour,
// the default for config files), or errors (the default for options written in code).
enum class unknown_keys { warn, error };

// The sampler of `class_name` (a diffusers class, a k-diffusion sampler name or an A1111/ComfyUI
// name) with options `o` (registry.hpp).
template <Real T>
any_sampler<T> make_sampler(std::string_view class_name, const options& o = {},
                            unknown_keys policy = unknown_keys::error);

// The sampler a diffusers scheduler_config.json describes, from its path or from its text (JSON as
// Python's json module writes it: NaN, Infinity and -Infinity allowed; scheduler_config.hpp).
template <Real T>
any_sampler<T> from_scheduler_config_file(const std::filesystem::path& path, unknown_keys policy = unknown_keys::warn);
template <Real T>
any_sampler<T> from_scheduler_config_text(std::string_view json, unknown_keys policy = unknown_keys::warn);

}  // namespace diffuse::config
