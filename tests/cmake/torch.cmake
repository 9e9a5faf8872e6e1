# The LibTorch adapter is tested when LibTorch is found (libtorch-dev is in scripts/install-deps;
# see DIFFUSE_WITH_TORCH in the top-level CMakeLists.txt). The test samples the network that
# examples/torchscript_pipeline ships and compares with diffusers' samples of it.
if(Torch_FOUND)
  add_executable(test_torch ${CMAKE_CURRENT_SOURCE_DIR}/optional/test_torch.cpp)
  target_link_libraries(test_torch PRIVATE diffuse_catch_main diffuse::diffuse diffuse_project_options torch)
  target_include_directories(test_torch PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_torch PRIVATE
    DIFFUSE_SHAPES_UNET="${PROJECT_SOURCE_DIR}/examples/torchscript_pipeline/shapes_unet.pt")
  add_test(NAME test_torch COMMAND test_torch)
  if(TARGET torchscript_pipeline)
    diffuse_add_output_test(torchscript_pipeline_example 0 "wrote .*torchscript_pipeline\\.png"
      torchscript_pipeline --out ${CMAKE_CURRENT_BINARY_DIR}/torchscript_pipeline.png)
    diffuse_add_output_test(torchscript_pipeline_bad_model 2
      "path = \".*missing\\.pt\" is invalid; allowed: a TorchScript file saved by torch\\.jit\\.save"
      torchscript_pipeline --model ${CMAKE_CURRENT_BINARY_DIR}/missing.pt)
  endif()
endif()
