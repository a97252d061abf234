// Warp-crop: N aligned crops of a pitched uint8 BGR frame, written as normalised NCHW tensors.
// Matrices map CROP -> FRAME (6 float32 per face, see pixels.cuh); grid (ceil(size / 16),
// ceil(size / 16), count), block (16, 16, 1).
#include "pixels.cuh"

#define FACERT_WARP_CROP(NAME, OUT)                                                              \
  extern "C" __global__ void NAME(const unsigned char* frame, int width, int height, int pitch, \
                                  const float* crop_to_frame, int count, int size, OUT* out,    \
                                  int rgb, float scale, float offset, int border_mode,          \
                                  float border_b, float border_g, float border_r) {             \
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;   \
    int n = blockIdx.z;                                                                          \
    if (x >= size || y >= size || n >= count) return;                                            \
    facert_warp_crop_pixel(frame, width, height, pitch, crop_to_frame + 6LL * n, size, x, y,    \
                           out + 3LL * size * size * n, rgb, scale, offset, border_mode,        \
                           border_b, border_g, border_r);                                        \
  }

FACERT_WARP_CROP(facert_warp_crop_f32, float)
FACERT_WARP_CROP(facert_warp_crop_f16, unsigned short)
