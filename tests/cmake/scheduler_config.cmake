# The runtime facade reads JSON with nlohmann/json.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(test_scheduler_config PRIVATE nlohmann_json::nlohmann_json)
