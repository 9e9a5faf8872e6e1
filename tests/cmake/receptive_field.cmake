# Runs examples/receptive_field on a zoo network and on description files and checks its output.
if(TARGET receptive_field)
  set(rf_examples ${PROJECT_SOURCE_DIR}/examples/receptive_field)
  # ResNet-50 (torchvision): 427 / 32 / 213, measured in PyTorch (torch_reference.py).
  add_test(NAME receptive_field_zoo COMMAND receptive_field --zoo resnet50_torchvision --input 224)
  set_tests_properties(receptive_field_zoo PROPERTIES
    PASS_REGULAR_EXPRESSION "layer4\\.2: receptive field 427, effective stride 32, effective padding 213")
  # TF-Slim MobileNet v1 without a resolution: padding unknown, as in the published table.
  add_test(NAME receptive_field_zoo_same COMMAND receptive_field --zoo mobilenet_v1_slim)
  set_tests_properties(receptive_field_zoo_same PROPERTIES
    PASS_REGULAR_EXPRESSION "receptive field 315, effective stride 32, effective padding unknown without --input")
  add_test(NAME receptive_field_file
    COMMAND receptive_field --file ${rf_examples}/tiny_unet.txt --input 64 --unit 10,20
            --png ${CMAKE_CURRENT_BINARY_DIR}/receptive_field_unet.png)
  set_tests_properties(receptive_field_file PROPERTIES
    PASS_REGULAR_EXPRESSION "head: receptive field 53, effective stride 1, effective padding 26.*wrote .*receptive_field_unet\\.png \\(")
  add_test(NAME receptive_field_misaligned COMMAND receptive_field --file ${rf_examples}/strided_unet_skip.txt)
  set_tests_properties(receptive_field_misaligned PROPERTIES
    PASS_REGULAR_EXPRESSION "alignment at 'skip' \\(height\\) = \"path conv_in -> down -> mid -> up -> up_conv -> skip has stride 1 and centre offset -1/2, but path conv_in -> skip has stride 1 and centre offset 0\"")
endif()
