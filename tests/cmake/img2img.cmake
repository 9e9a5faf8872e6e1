# The img2img tests read the scheduler configs with nlohmann/json, as the facade tests.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(test_img2img PRIVATE nlohmann_json::nlohmann_json)
