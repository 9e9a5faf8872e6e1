# Runs examples/receptive_field on a zoo network and on description files and checks its output.
if(TARGET receptive_field)
  set(rf_examples ${PROJECT_SOURCE_DIR}/examples/receptive_field)
  # Each analysis exits 0 and prints the expected line.
  # ResNet-50 (torchvision): 427 / 32 / 213, measured in PyTorch (torch_reference.py).
  diffuse_add_output_test(receptive_field_zoo 0
    "layer4\\.2: receptive field 427, effective stride 32, effective padding 213"
    receptive_field --zoo resnet50_torchvision --input 224)
  # TF-Slim MobileNet v1 without a resolution: padding unknown, as in the published table.
  diffuse_add_output_test(receptive_field_zoo_same 0
    "receptive field 315, effective stride 32, effective padding unknown without --input"
    receptive_field --zoo mobilenet_v1_slim)
  diffuse_add_output_test(receptive_field_file 0
    "head: receptive field 53, effective stride 1, effective padding 26.*wrote .*receptive_field_unet\\.png \\("
    receptive_field --file ${rf_examples}/tiny_unet.txt --input 64 --unit 10,20
                    --png ${CMAKE_CURRENT_BINARY_DIR}/receptive_field_unet.png)
  # A misaligned skip connection is an error naming both paths (exit 2).
  diffuse_add_output_test(receptive_field_misaligned 2
    "alignment at 'skip' \\(height\\) = \"path conv_in -> down -> mid -> up -> up_conv -> skip has stride 1 and centre offset -1/2, but path conv_in -> skip has stride 1 and centre offset 0\""
    receptive_field --file ${rf_examples}/strided_unet_skip.txt)
endif()
