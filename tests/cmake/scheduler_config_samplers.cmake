# The facade test for the modern samplers reads JSON configs with nlohmann/json.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(test_scheduler_config_samplers PRIVATE nlohmann_json::nlohmann_json)
