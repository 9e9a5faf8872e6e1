# diffuse::facade, the compiled runtime facade: config/facade.hpp's definitions (make_sampler,
# from_scheduler_config_file/_text and the sampler table behind them) compiled once, for float and
# double, in a static library. A program that links it and includes config/facade.hpp compiles in
# seconds instead of instantiating every sampler (docs/config.md, "Compile time"). It needs
# nlohmann/json. Used by the project's CMakeLists.txt and by the installed diffuseConfig.cmake,
# which builds it from the installed sources with the consumer's compiler and flags.
function(diffuse_add_facade source_dir)
  add_library(diffuse_facade STATIC EXCLUDE_FROM_ALL ${source_dir}/facade_float.cpp ${source_dir}/facade_double.cpp)
  target_link_libraries(diffuse_facade PUBLIC diffuse::diffuse nlohmann_json::nlohmann_json)
  # Translation units that include the full registry.hpp too use the library's table.
  target_compile_definitions(diffuse_facade PUBLIC DIFFUSE_EXTERN_REGISTRY)
  add_library(diffuse::facade ALIAS diffuse_facade)
endfunction()
