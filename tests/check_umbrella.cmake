# Fails unless UMBRELLA (include/diffuse/diffuse.hpp) includes every public header under
# INCLUDE_DIR/diffuse. Not public: detail/ folders, the registry's parts (registry.hpp includes
# them), registry_instances.hpp (one translation unit of a program includes it) and the
# optional adapters with extra dependencies (xtensor, nlohmann/json, LibTorch).
file(READ "${UMBRELLA}" umbrella)
file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/diffuse/*.hpp")
if(NOT headers)
  message(FATAL_ERROR "no headers found under ${INCLUDE_DIR}/diffuse (pass an absolute INCLUDE_DIR)")
endif()
set(missing "")
foreach(header IN LISTS headers)
  if(header MATCHES "/detail/" OR header MATCHES "/registry_[a-z]+\\.hpp$" OR
     header STREQUAL "diffuse/diffuse.hpp" OR header STREQUAL "diffuse/interop/xtensor.hpp" OR
     header STREQUAL "diffuse/interop/torch.hpp" OR
     header STREQUAL "diffuse/config/scheduler_config.hpp" OR
     header STREQUAL "diffuse/config/registry_instances.hpp")
    continue()
  endif()
  string(FIND "${umbrella}" "#include \"${header}\"" position)
  if(position EQUAL -1)
    list(APPEND missing "${header}")
  endif()
endforeach()
if(missing)
  string(REPLACE ";" ", " missing "${missing}")
  message(FATAL_ERROR "diffuse/diffuse.hpp does not include these public headers: ${missing}")
endif()
