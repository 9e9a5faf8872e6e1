#define DIFFUSE_FACADE_SCALAR double
#include "facade_instances.inc"
