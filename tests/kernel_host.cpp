// The CUDA kernels' host twins: the same parameters, a loop over the launch grid, and the same
// pixels.cuh functions per pixel. Built by tests/kernel_host.py (g++ -O2 -ffp-contract=off).
#include "pixels.cuh"

namespace {

template <typename T>
void warp_crop(const unsigned char* frame, int width, int height, int pitch,
               const float* crop_to_frame, int count, int size, T* out, int rgb, float scale,
               float offset, int border_mode, float border_b, float border_g, float border_r) {
  for (int n = 0; n < count; ++n) {
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        facert_warp_crop_pixel(frame, width, height, pitch, crop_to_frame + 6LL * n, size, x, y,
                               out + 3LL * size * size * n, rgb, scale, offset, border_mode,
                               border_b, border_g, border_r);
      }
    }
  }
}

template <typename T>
void blend(unsigned char* frame, int width, int height, int pitch, const T* faces, int count,
           int size, int rgb, float low, float high, const float* face_params,
           const float* tables, const int* tiles, int tile_count) {
  for (int tile = 0; tile < tile_count; ++tile) {
    for (int dy = 0; dy < FACERT_TILE; ++dy) {
      for (int dx = 0; dx < FACERT_TILE; ++dx) {
        int x = tiles[2 * tile] + dx, y = tiles[2 * tile + 1] + dy;
        if (x >= width || y >= height) continue;
        facert_blend_pixel(frame + (long long)y * pitch + 3LL * x, x, y, faces, count, size, rgb,
                           low, high, face_params, tables);
      }
    }
  }
}

template <typename T>
void resize_normalize(const unsigned char* frame, int pitch, const float* boxes, int count,
                      int out_width, int out_height, T* out, int rgb, float scale, float offset) {
  for (int n = 0; n < count; ++n) {
    for (int y = 0; y < out_height; ++y) {
      for (int x = 0; x < out_width; ++x) {
        facert_resize_pixel(frame, pitch, boxes + 4LL * n, out_width, out_height, x, y,
                            out + 3LL * out_width * out_height * n, rgb, scale, offset);
      }
    }
  }
}

}  // namespace

#define FACERT_HOST_WARP_CROP(NAME, OUT)                                                         \
  extern "C" void NAME(const unsigned char* frame, int width, int height, int pitch,            \
                       const float* crop_to_frame, int count, int size, OUT* out, int rgb,      \
                       float scale, float offset, int border_mode, float border_b,              \
                       float border_g, float border_r) {                                         \
    warp_crop(frame, width, height, pitch, crop_to_frame, count, size, out, rgb, scale, offset, \
              border_mode, border_b, border_g, border_r);                                        \
  }
#define FACERT_HOST_BLEND(NAME, FACE)                                                            \
  extern "C" void NAME(unsigned char* frame, int width, int height, int pitch, const FACE* faces, \
                       int count, int size, int rgb, float low, float high,                      \
                       const float* face_params, const float* tables, const int* tiles,          \
                       int tile_count) {                                                         \
    blend(frame, width, height, pitch, faces, count, size, rgb, low, high, face_params, tables,  \
          tiles, tile_count);                                                                    \
  }
#define FACERT_HOST_RESIZE_NORMALIZE(NAME, OUT)                                                  \
  extern "C" void NAME(const unsigned char* frame, int width, int height, int pitch,            \
                       const float* boxes, int count, int out_width, int out_height, OUT* out,  \
                       int rgb, float scale, float offset) {                                     \
    (void)width;                                                                                 \
    (void)height;                                                                                \
    resize_normalize(frame, pitch, boxes, count, out_width, out_height, out, rgb, scale, offset); \
  }

FACERT_HOST_WARP_CROP(facert_host_warp_crop_f32, float)
FACERT_HOST_WARP_CROP(facert_host_warp_crop_f16, unsigned short)
FACERT_HOST_BLEND(facert_host_blend_f32, float)
FACERT_HOST_BLEND(facert_host_blend_f16, unsigned short)
FACERT_HOST_RESIZE_NORMALIZE(facert_host_resize_normalize_f32, float)
FACERT_HOST_RESIZE_NORMALIZE(facert_host_resize_normalize_f16, unsigned short)

// The header's half conversions, for tests/kernels/test_pixels_header.py.
extern "C" void facert_host_to_half(const float* values, unsigned short* halves, int count) {
  for (int i = 0; i < count; ++i) halves[i] = fx_to_half(values[i]);
}
extern "C" void facert_host_from_half(const unsigned short* halves, float* values, int count) {
  for (int i = 0; i < count; ++i) values[i] = fx_from_half(halves[i]);
}
