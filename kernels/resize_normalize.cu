// Resize-normalise: boxes of a pitched uint8 BGR frame resized by adaptive average pooling
// (runtime/stages/detect/area.py, MTCNN's pyramid and R-Net/O-Net crops) into normalised NCHW
// tensors. grid (ceil(out_width / 16), ceil(out_height / 16), count), block (16, 16, 1).
#include "pixels.cuh"

#define FACERT_RESIZE_NORMALIZE(NAME, OUT)                                                       \
  extern "C" __global__ void NAME(const unsigned char* frame, int width, int height, int pitch, \
                                  const float* boxes, int count, int out_width, int out_height, \
                                  OUT* out, int rgb, float scale, float offset) {                \
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;   \
    int n = blockIdx.z;                                                                          \
    if (x >= out_width || y >= out_height || n >= count) return;                                 \
    (void)width;                                                                                 \
    (void)height;                                                                                \
    facert_resize_pixel(frame, pitch, boxes + 4LL * n, out_width, out_height, x, y,              \
                        out + 3LL * out_width * out_height * n, rgb, scale, offset);             \
  }

FACERT_RESIZE_NORMALIZE(facert_resize_normalize_f32, float)
FACERT_RESIZE_NORMALIZE(facert_resize_normalize_f16, unsigned short)
