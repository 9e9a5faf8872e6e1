#define DIFFUSE_FACADE_SCALAR float
#include "facade_instances.inc"
