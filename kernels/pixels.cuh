// facert's per-pixel arithmetic: every function the CUDA kernels call, one output pixel at a time.
//
// Compiled three ways: by NVRTC and nvcc for the GPU (FACERT_HD = __host__ __device__), and by the
// host C++ compiler for the CPU tests (FACERT_HD = inline; tests/kernel_host.py builds it with
// -ffp-contract=off). It includes nothing: NVRTC has no standard headers and no cuda_fp16.h.
//
// The specification is the runtime's CPU path, reproduced operation by operation in float32 with
// explicit roundings: fx_mul/fx_add/fx_sub/fx_div round once each and are never fused (__fmul_rn &c.
// on the GPU), fx_fma is a true fused multiply-add on both sides, rounding to integers is to nearest,
// ties to even (OpenCV's cvRound, NumPy's rint).
//
// Matrix convention: facert's affines map FRAME -> CROP ((2, 3) float64, runtime/stages/align/warp.py).
// The kernels take the inverse, CROP -> FRAME, as 6 float32 numbers per face, row-major:
//     x_frame = m[0] * u + m[1] * v + m[2],   y_frame = m[3] * u + m[4] * v + m[5]
// with pixel centres at integer coordinates; kernels/plan.py computes them as OpenCV's warpAffine
// does (inverted in float64, then rounded to float32). The blend takes, per face, the matrix from
// the face's box pixels to its canvas pixels (see facert_blend_pixel).
//
// Frames are uint8 BGR, rows `pitch` bytes apart. Network tensors are NCHW planes; fp16 tensors are
// handled as their uint16 bits.
#ifndef FACERT_PIXELS_CUH
#define FACERT_PIXELS_CUH

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FACERT_HD __host__ __device__ __forceinline__
#else
#define FACERT_HD inline
#endif

#define FACERT_TILE 16        // blend tiles and thread blocks: 16 x 16 pixels
#define FACERT_BLEND_PARAMS 20  // floats per face in the blend's face_params (layout below)

// ---- float32 arithmetic with one rounding per operation ----------------------------------------

FACERT_HD float fx_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

FACERT_HD float fx_add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

FACERT_HD float fx_sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

FACERT_HD float fx_div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

FACERT_HD float fx_fma(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);
#endif
}

FACERT_HD float fx_floor(float x) {
#ifdef __CUDA_ARCH__
  return floorf(x);
#else
  return __builtin_floorf(x);
#endif
}

// Round to nearest, ties to even (|x| < 2**31).
FACERT_HD float fx_rint(float x) {
#ifdef __CUDA_ARCH__
  return (float)__float2int_rn(x);
#else
  return __builtin_rintf(x);
#endif
}

FACERT_HD float fx_clamp(float x, float low, float high) {  // NaN -> low
  return x >= low ? (x <= high ? x : high) : low;
}

FACERT_HD int fx_clamp_level(float level) {  // saturate_cast<uchar> of an already rounded value
  return level >= 255.0f ? 255 : (level > 0.0f ? (int)level : 0);  // NaN -> 0
}

// ---- half precision (IEEE binary16 as its uint16 bits) -----------------------------------------

FACERT_HD unsigned int fx_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  unsigned int bits;
  __builtin_memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}

FACERT_HD float fx_from_bits(unsigned int bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float x;
  __builtin_memcpy(&x, &bits, sizeof x);
  return x;
#endif
}

// float32 -> float16, round to nearest even (overflow to infinity, NaN stays NaN).
FACERT_HD unsigned short fx_to_half(float x) {
#ifdef __CUDA_ARCH__
  unsigned short half;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(half) : "f"(x));
  return half;
#else
  unsigned int bits = fx_bits(x);
  unsigned int sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // infinity or NaN
    return (unsigned short)(sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (magnitude >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // rounds past 65504
  if (magnitude < 0x38800000u) {  // below 2**-14: a subnormal half, in units of 2**-24 (exact)
    float units = fx_rint(fx_mul(fx_from_bits(magnitude), 16777216.0f));
    return (unsigned short)(sign | (unsigned int)units);  // 1024 units is the smallest normal
  }
  unsigned int rebased = magnitude - 0x38000000u;  // exponent bias 127 -> 15
  unsigned int half = rebased >> 13, rest = rebased & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half += 1u;
  return (unsigned short)(sign | half);
#endif
}

// float16 -> float32 (exact).
FACERT_HD float fx_from_half(unsigned short half) {
#ifdef __CUDA_ARCH__
  float x;
  asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(half));
  return x;
#else
  unsigned int sign = ((unsigned int)half & 0x8000u) << 16;
  unsigned int exponent = ((unsigned int)half >> 10) & 0x1fu, mantissa = (unsigned int)half & 0x3ffu;
  if (exponent == 0u) {
    float value = fx_mul((float)mantissa, 5.9604644775390625e-8f);  // 2**-24
    return sign ? -value : value;
  }
  if (exponent == 31u) return fx_from_bits(sign | 0x7f800000u | (mantissa << 13));
  return fx_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
#endif
}

FACERT_HD void fx_store(float* out, long long index, float value) { out[index] = value; }
FACERT_HD void fx_store(unsigned short* out, long long index, float value) {
  out[index] = fx_to_half(value);
}
FACERT_HD float fx_load(const float* data, long long index) { return data[index]; }
FACERT_HD float fx_load(const unsigned short* data, long long index) {
  return fx_from_half(data[index]);
}

// ---- OpenCV's bilinear sampling (warpAffine, INTER_LINEAR, 8-bit images) ----------------------
//
// OpenCV 5's own warpAffine kernel samples 8-bit images in float32: from the float32 matrix, per
// row r = m1 * y + m2 (rounded), the source position sx = fma(m0, x, r) (likewise sy), (ix, iy) =
// floor, fractions a = sx - ix and b = sy - iy, then per channel v0 = fma(a, p01 - p00, p00),
// v1 = fma(a, p11 - p10, p10), v = fma(b, v1 - v0, v0), rounded to nearest even and saturated.
// This is its SIMD body, bit for bit; its scalar tail (the last width % 8, 16 or 32 columns,
// by SIMD width) groups the position as (fma(x, m0, m1 * y) + m2), and OpenCV's x86 wheels hand
// constant-border warps to Intel IPP, whose arithmetic differs in the last bits: there a value
// lying within about 1e-3 of a half level can round the other way (tests/kernels/test_warp_crop.py
// counts them).

struct FxSample {
  int ix, iy;  // the top-left neighbour
  float a, b;  // fractions along x and y
};

FACERT_HD FxSample fx_sample(const float* m, int x, int y) {
  float fx = (float)x, fy = (float)y;
  float sx = fx_fma(m[0], fx, fx_add(fx_mul(m[1], fy), m[2]));
  float sy = fx_fma(m[3], fx, fx_add(fx_mul(m[4], fy), m[5]));
  FxSample s;
  float floor_x = fx_floor(sx), floor_y = fx_floor(sy);
  // Far outside any image: clamp so the integer conversion stays defined (all neighbours miss).
  floor_x = fx_clamp(floor_x, -1.0e8f, 1.0e8f);
  floor_y = fx_clamp(floor_y, -1.0e8f, 1.0e8f);
  s.ix = (int)floor_x;
  s.iy = (int)floor_y;
  s.a = fx_sub(sx, floor_x);
  s.b = fx_sub(sy, floor_y);
  return s;
}

FACERT_HD float fx_bilinear(const FxSample& s, float p00, float p01, float p10, float p11) {
  float v0 = fx_fma(s.a, fx_sub(p01, p00), p00);
  float v1 = fx_fma(s.a, fx_sub(p11, p10), p10);
  return fx_fma(s.b, fx_sub(v1, v0), v0);
}

// OpenCV's BORDER_REFLECT_101 index (gfedcb|abcdefgh|gfedcba), periodic with period 2 (n - 1);
// a line of one pixel replicates.
FACERT_HD int fx_reflect101(int p, int length) {
  if (length == 1) return 0;
  int period = 2 * (length - 1);
  p = (p < 0 ? -p : p) % period;
  return p < length ? p : period - p;
}

// ---- warp-crop ---------------------------------------------------------------------------------

// One pixel of one crop: the frame sampled as cv2.warpAffine(frame, affine, (size, size),
// INTER_LINEAR, border) does (runtime/stages/align/warp.py warp_crop), then to_tensor's mapping
// value = level * scale + offset (float32, unfused), written to the three planes of `out` (this
// crop's (3, size, size) planes) in BGR order, or RGB when `rgb`.
// border_mode 0: pixels outside the frame are `border` (B, G, R levels); 1: reflect101.
template <typename T>
FACERT_HD void facert_warp_crop_pixel(const unsigned char* frame, int width, int height, int pitch,
                                      const float* crop_to_frame, int size, int x, int y, T* out,
                                      int rgb, float scale, float offset, int border_mode,
                                      float border_b, float border_g, float border_r) {
  FxSample s = fx_sample(crop_to_frame, x, y);
  float border[3] = {border_b, border_g, border_r};
  float p[4][3];
  for (int k = 0; k < 4; ++k) {
    int px = s.ix + (k & 1), py = s.iy + (k >> 1);
    bool inside = px >= 0 && px < width && py >= 0 && py < height;
    if (!inside && border_mode == 1) {
      px = fx_reflect101(px, width);
      py = fx_reflect101(py, height);
      inside = true;
    }
    const unsigned char* pixel = frame + (long long)py * pitch + 3LL * px;
    for (int c = 0; c < 3; ++c) p[k][c] = inside ? (float)pixel[c] : border[c];
  }
  long long plane = (long long)size * size, at = (long long)y * size + x;
  for (int c = 0; c < 3; ++c) {
    float level = (float)fx_clamp_level(fx_rint(fx_bilinear(s, p[0][c], p[1][c], p[2][c], p[3][c])));
    int channel = rgb ? 2 - c : c;
    fx_store(out, channel * plane + at, fx_add(fx_mul(level, scale), offset));
  }
}

// ---- resize-normalise --------------------------------------------------------------------------

// One output pixel of one box resized by adaptive average pooling (runtime/stages/detect/area.py:
// output i of n_out over a span of n_in pixels averages pixels floor(i n_in / n_out) up to
// ceil((i + 1) n_in / n_out)), the mean computed as float32(sum) / rows / cols like area.py, then
// value = mean * scale + offset (MTCNN's (x - 127.5) / 128 is scale 2**-7, offset -127.5 / 128:
// the same float32 result, as the scaling is by a power of two). Each thread sums its own bin
// (32-bit sums: bins up to 16.8 million pixels); `box`: left, top, right, bottom (frame pixels,
// half-open, inside the frame); `out`: this box's (3, out_height, out_width) planes.
template <typename T>
FACERT_HD void facert_resize_pixel(const unsigned char* frame, int pitch, const float* box,
                                   int out_width, int out_height, int x, int y, T* out, int rgb,
                                   float scale, float offset) {
  int left = (int)box[0], top = (int)box[1];
  long long span_x = (int)box[2] - left, span_y = (int)box[3] - top;
  int first_x = left + (int)(x * span_x / out_width);
  int stop_x = left + (int)(((x + 1) * span_x + out_width - 1) / out_width);
  int first_y = top + (int)(y * span_y / out_height);
  int stop_y = top + (int)(((y + 1) * span_y + out_height - 1) / out_height);
  unsigned int sums[3] = {0u, 0u, 0u};
  for (int row = first_y; row < stop_y; ++row) {
    const unsigned char* pixel = frame + (long long)row * pitch + 3LL * first_x;
    for (int column = first_x; column < stop_x; ++column, pixel += 3) {
      sums[0] += pixel[0];
      sums[1] += pixel[1];
      sums[2] += pixel[2];
    }
  }
  float rows = (float)(stop_y - first_y), columns = (float)(stop_x - first_x);
  long long plane = (long long)out_width * out_height, at = (long long)y * out_width + x;
  for (int c = 0; c < 3; ++c) {
    float mean = fx_div(fx_div((float)sums[c], rows), columns);
    int channel = rgb ? 2 - c : c;
    fx_store(out, channel * plane + at, fx_add(fx_mul(mean, scale), offset));
  }
}

// ---- blend -------------------------------------------------------------------------------------
//
// runtime/stages/blend/paste.py per output pixel. Each face samples a "canvas" (a grid of crop
// positions, `margin` pixels wider than the crop each side) with OpenCV's 4-channel bilinear warp
// from the face's box: the canvas holds BGR face levels and an alpha; the blend is then
// out = round(face * alpha / 255) + round(out * (255 - alpha) / 255), saturated.
//
// face_params, FACERT_BLEND_PARAMS floats per face (kernels/plan.py writes them):
//   [0] path: 0 none (the mask misses the frame), 1 profiles (the separable mask), 2 box
//   [1..4] the face's box in frame pixels: x0, y0, x1, y1 (half-open)
//   [5..10] box pixels -> canvas pixels, float32 (as OpenCV inverts the canvas -> box matrix)
//   [11] margin (crop pixel u is canvas column u + margin), [12] canvas side
//   [13] offset of the face's tables in `tables` (exact in float32 below 2**24; plan.py checks)
//   [14..16] colour gain (B, G, R), [17..19] colour bias (B, G, R) in levels: identity 1, 0
// Tables, profiles path: soft_u, erosion_u, soft_v, erosion_v, `side` float32 each (feather_crop's
// profiles per canvas column/row); box path: erosion then alpha over the box (h * w each, row-major,
// feather_box's masks; alpha already round(255 * soft)).

// A face level at crop pixel (u, v), channel c (B, G, R): from_tensor's clip, map and rint, then
// the colour hook.
template <typename T>
FACERT_HD float fx_face_level(const T* face, int size, int u, int v, int c, int rgb, float low,
                              float high, float to_levels, const float* params) {
  int channel = rgb ? 2 - c : c;
  float value = fx_clamp(fx_load(face, ((long long)channel * size + v) * size + u), low, high);
  float level = fx_rint(fx_mul(fx_sub(value, low), to_levels));
  float gain = params[14 + c], bias = params[17 + c];
  if (gain != 1.0f || bias != 0.0f) {
    level = (float)fx_clamp_level(fx_rint(fx_add(fx_mul(level, gain), bias)));
  }
  return level;
}

// The canvas at (column, row): BGR levels in value[0..2], alpha in value[3]; zero off the canvas.
template <typename T>
FACERT_HD void fx_canvas(const T* face, int size, int rgb, float low, float high, float to_levels,
                         const float* params, const float* tables, int column, int row,
                         float* value) {
  int margin = (int)params[11], side = (int)params[12];
  value[0] = value[1] = value[2] = value[3] = 0.0f;
  if (column < 0 || column >= side || row < 0 || row >= side) return;
  bool profiles = params[0] == 1.0f;
  const float* table = tables + (long long)params[13];
  if (profiles) {  // alpha = round(255 * soft_v * soft_u), as feather_crop._write_alpha
    value[3] = fx_rint(fx_mul(fx_mul(255.0f, table[2 * side + row]), table[column]));
  }
  int u = column - margin, v = row - margin;
  if (u < 0 || u >= size || v < 0 || v >= size) return;
  for (int c = 0; c < 3; ++c) {
    float level = fx_face_level(face, size, u, v, c, rgb, low, high, to_levels, params);
    if (profiles) {  // erosion on the crop's grid: columns first, then rows, rounding each
      float erosion_u = table[side + column], erosion_v = table[3 * side + row];
      if (erosion_u < 1.0f) level = fx_rint(fx_mul(level, erosion_u));
      if (erosion_v < 1.0f) level = fx_rint(fx_mul(level, erosion_v));
    }
    value[c] = level;
  }
}

FACERT_HD int fx_scale_level(int level, int alpha) {  // round(level * alpha / 255), never a tie
  return (2 * level * alpha + 255) / 510;
}

// One face over one frame pixel (x, y) inside its box: `bgr` holds the pixel's levels (in, out).
template <typename T>
FACERT_HD void fx_blend_face(const T* face, int size, int rgb, float low, float high,
                             float to_levels, const float* params, const float* tables, int x,
                             int y, int* bgr) {
  int box_x = x - (int)params[1], box_y = y - (int)params[2];
  FxSample s = fx_sample(params + 5, box_x, box_y);
  float p[4][4];
  for (int k = 0; k < 4; ++k) {
    fx_canvas(face, size, rgb, low, high, to_levels, params, tables, s.ix + (k & 1),
              s.iy + (k >> 1), p[k]);
  }
  int pasted[4];
  for (int c = 0; c < 4; ++c) {
    pasted[c] = fx_clamp_level(fx_rint(fx_bilinear(s, p[0][c], p[1][c], p[2][c], p[3][c])));
  }
  int alpha = pasted[3];
  if (params[0] == 2.0f) {  // box path: erosion and alpha over the box, from the host
    int box_width = (int)params[3] - (int)params[1], box_height = (int)params[4] - (int)params[2];
    const float* erosion = tables + (long long)params[13];
    long long at = (long long)box_y * box_width + box_x;
    for (int c = 0; c < 3; ++c) {
      pasted[c] = fx_clamp_level(fx_rint(fx_mul((float)pasted[c], erosion[at])));
    }
    alpha = (int)erosion[(long long)box_width * box_height + at];
  }
  for (int c = 0; c < 3; ++c) {
    int sum = fx_scale_level(pasted[c], alpha) + fx_scale_level(bgr[c], 255 - alpha);
    bgr[c] = sum > 255 ? 255 : sum;
  }
}

// One frame pixel (x, y) under every face, in order (later faces over earlier ones); `pixel`
// points at its B, G, R bytes. `faces`: count x (3, size, size) planes in the spec's colour order
// (`rgb`) and output range [low, high].
template <typename T>
FACERT_HD void facert_blend_pixel(unsigned char* pixel, int x, int y, const T* faces, int count,
                                  int size, int rgb, float low, float high,
                                  const float* face_params, const float* tables) {
  float to_levels = (float)(255.0 / ((double)high - (double)low));
  int bgr[3] = {pixel[0], pixel[1], pixel[2]};
  bool changed = false;
  for (int n = 0; n < count; ++n) {
    const float* params = face_params + (long long)n * FACERT_BLEND_PARAMS;
    if (params[0] == 0.0f) continue;
    if (x < (int)params[1] || y < (int)params[2] || x >= (int)params[3] || y >= (int)params[4]) {
      continue;
    }
    const T* face = faces + (long long)n * 3 * size * size;
    fx_blend_face(face, size, rgb, low, high, to_levels, params, tables, x, y, bgr);
    changed = true;
  }
  if (changed) {
    pixel[0] = (unsigned char)bgr[0];
    pixel[1] = (unsigned char)bgr[1];
    pixel[2] = (unsigned char)bgr[2];
  }
}

#endif  // FACERT_PIXELS_CUH
