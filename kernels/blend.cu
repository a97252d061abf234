// Blend: N restored NCHW faces pasted into a pitched uint8 BGR frame in place, under facexlib's
// feathered mask (runtime/stages/blend/paste.py), later faces over earlier ones. Launched over the
// 16 x 16 tiles covering the union of the face boxes: grid (tile_count, 1, 1), block (16, 16, 1);
// `tiles` holds each tile's origin (x, y). face_params/tables: see pixels.cuh and kernels/plan.py.
#include "pixels.cuh"

#define FACERT_BLEND(NAME, FACE)                                                                 \
  extern "C" __global__ void NAME(unsigned char* frame, int width, int height, int pitch,       \
                                  const FACE* faces, int count, int size, int rgb, float low,   \
                                  float high, const float* face_params, const float* tables,    \
                                  const int* tiles, int tile_count) {                            \
    int tile = blockIdx.x;                                                                       \
    if (tile >= tile_count) return;                                                              \
    int x = tiles[2 * tile] + threadIdx.x, y = tiles[2 * tile + 1] + threadIdx.y;               \
    if (x >= width || y >= height) return;                                                       \
    facert_blend_pixel(frame + (long long)y * pitch + 3LL * x, x, y, faces, count, size, rgb,    \
                       low, high, face_params, tables);                                          \
  }

FACERT_BLEND(facert_blend_f32, float)
FACERT_BLEND(facert_blend_f16, unsigned short)
