// RMSNorm (Llama) and LayerNorm (GPT-2) on the CPU backend. Row statistics are accumulated in f64
// (dot_f64, sum_f64): the result is the f32 rounding of a nearly exact mean, whatever C is.

#include <cmath>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// One row of RMSNorm: returns rstd and writes out[c] = weight[c] * (x[c] * rstd) (Hugging Face's
// order, each product rounded to f32).
FTHOST_CPU_VECTOR_CLONES
float rmsnorm_forward_row(float* out, const float* x, const float* weight, std::int64_t channels, float eps) {
  const double mean_square = dot_f64(x, x, channels) / static_cast<double>(channels);
  const auto r = static_cast<float>(1.0 / std::sqrt(mean_square + static_cast<double>(eps)));
#pragma omp simd
  for (std::int64_t c = 0; c < channels; ++c) out[c] = weight[c] * (x[c] * r);
  return r;
}

// One row of the RMSNorm input gradient: dx += r w dy - x r^3 / C * sum_j dy_j w_j x_j.
FTHOST_CPU_VECTOR_CLONES
void rmsnorm_backward_row(float* dx, const float* x, const float* dy, const float* weight, float rstd,
                          std::int64_t channels) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};  // sum_j dy_j w_j x_j, in fixed lanes (see cpu_loops.hpp)
  std::int64_t c = 0;
  for (; c + kLanes <= channels; c += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      lanes[j] += static_cast<double>(dy[c + j]) * static_cast<double>(weight[c + j]) * static_cast<double>(x[c + j]);
    }
  }
  double weighted = 0.0;
  for (; c < channels; ++c) {
    weighted += static_cast<double>(dy[c]) * static_cast<double>(weight[c]) * static_cast<double>(x[c]);
  }
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  }
  weighted += lanes[0];
  const double r = static_cast<double>(rstd);
  const double coefficient = r * r * r * weighted / static_cast<double>(channels);
#pragma omp simd
  for (std::int64_t i = 0; i < channels; ++i) {
    const double term = r * static_cast<double>(weight[i]) * static_cast<double>(dy[i]) -
                        static_cast<double>(x[i]) * coefficient;
    dx[i] = static_cast<float>(static_cast<double>(dx[i]) + term);
  }
}

}  // namespace

void CpuBackend::rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& inp, const Tensor& weight,
                                 float eps) {
  // inp [N,C], weight [C] -> out [N,C], rstd [N] = 1 / sqrt(mean(inp^2) + eps)
  const checks::NormDims dims = checks::rmsnorm_forward(device(), out, rstd, inp, weight, eps);
  const std::int64_t channels = dims.channels;
  const float* x = inp.f32();
  const float* w = weight.f32();
  float* o = out.f32();
  float* r = rstd.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    r[n] = rmsnorm_forward_row(o + n * channels, x + n * channels, w, channels, eps);
  }
}

void CpuBackend::rmsnorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dout, const Tensor& inp,
                                  const Tensor& weight, const Tensor& rstd) {
  // y_i = w_i x_i r with r = (mean(x^2) + eps)^(-1/2), so
  //   dx_i = r w_i dy_i - x_i r^3 / C * sum_j dy_j w_j x_j,   dw_i = sum_n dy_i x_i r.
  const checks::NormDims dims = checks::rmsnorm_backward(device(), dinp, dweight, dout, inp, weight, rstd);
  const std::int64_t channels = dims.channels;
  const float* x_all = inp.f32();
  const float* g_all = dout.f32();
  const float* w = weight.f32();
  const float* r_all = rstd.f32();
  if (dinp.defined()) {
    float* dx_all = dinp.f32();
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < dims.rows; ++n) {
      rmsnorm_backward_row(dx_all + n * channels, x_all + n * channels, g_all + n * channels, w, r_all[n], channels);
    }
  }
  if (dweight.defined()) {
    accumulate_column_sums(dweight.f32(), dims.rows, channels,
                           [&](std::int64_t n, std::int64_t first, std::int64_t width, double* sums) {
                             const float* x = x_all + n * channels + first;
                             const float* g = g_all + n * channels + first;
                             const double r = static_cast<double>(r_all[n]);
                             for (std::int64_t j = 0; j < width; ++j) {
                               sums[j] += static_cast<double>(g[j]) * static_cast<double>(x[j]) * r;
                             }
                           });
  }
}

void CpuBackend::layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                                   const Tensor& weight, const Tensor& bias, float eps) {
  // inp [N,C] -> out [N,C] = (inp - mean) * rstd * weight + bias; mean [N], rstd [N] (biased variance)
  const checks::NormDims dims = checks::layernorm_forward(device(), out, mean, rstd, inp, weight, bias, eps);
  const std::int64_t channels = dims.channels;
  const float* x_all = inp.f32();
  const float* w = weight.f32();
  const float* b = bias.defined() ? bias.f32() : nullptr;
  float* o_all = out.f32();
  float* mean_all = mean.f32();
  float* rstd_all = rstd.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    const float* x = x_all + n * channels;
    float* o = o_all + n * channels;
    const double m = sum_f64(x, channels) / static_cast<double>(channels);
    double variance = 0.0;  // two passes: no cancellation when |mean| >> spread
    for (std::int64_t c = 0; c < channels; ++c) {
      const double centred = static_cast<double>(x[c]) - m;
      variance += centred * centred;
    }
    variance /= static_cast<double>(channels);
    const double r = 1.0 / std::sqrt(variance + static_cast<double>(eps));
    mean_all[n] = static_cast<float>(m);
    rstd_all[n] = static_cast<float>(r);
#pragma omp simd
    for (std::int64_t c = 0; c < channels; ++c) {
      const double normed = (static_cast<double>(x[c]) - m) * r * static_cast<double>(w[c]);
      o[c] = static_cast<float>(b != nullptr ? normed + static_cast<double>(b[c]) : normed);
    }
  }
}

void CpuBackend::layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                                    const Tensor& dout, const Tensor& inp, const Tensor& weight, const Tensor& mean,
                                    const Tensor& rstd) {
  // With norm = (x - mean) * rstd and dnorm = w * dy:
  //   dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)),  dw = sum_n dy * norm,  db = sum_n dy
  const checks::NormDims dims =
      checks::layernorm_backward(device(), dinp, dweight, dbias, dout, inp, weight, mean, rstd);
  const std::int64_t channels = dims.channels;
  const float* x_all = inp.f32();
  const float* g_all = dout.f32();
  const float* w = weight.f32();
  const float* mean_all = mean.f32();
  const float* rstd_all = rstd.f32();
  if (dinp.defined()) {
    float* dx_all = dinp.f32();
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < dims.rows; ++n) {
      const float* x = x_all + n * channels;
      const float* g = g_all + n * channels;
      float* dx = dx_all + n * channels;
      const double m = static_cast<double>(mean_all[n]);
      const double r = static_cast<double>(rstd_all[n]);
      double dnorm_sum = 0.0, dnorm_norm_sum = 0.0;
      for (std::int64_t c = 0; c < channels; ++c) {
        const double norm = (static_cast<double>(x[c]) - m) * r;
        const double dnorm = static_cast<double>(w[c]) * static_cast<double>(g[c]);
        dnorm_sum += dnorm;
        dnorm_norm_sum += dnorm * norm;
      }
      const double dnorm_mean = dnorm_sum / static_cast<double>(channels);
      const double dnorm_norm_mean = dnorm_norm_sum / static_cast<double>(channels);
#pragma omp simd
      for (std::int64_t c = 0; c < channels; ++c) {
        const double norm = (static_cast<double>(x[c]) - m) * r;
        const double dnorm = static_cast<double>(w[c]) * static_cast<double>(g[c]);
        dx[c] = static_cast<float>(static_cast<double>(dx[c]) + r * (dnorm - dnorm_mean - norm * dnorm_norm_mean));
      }
    }
  }
  if (dweight.defined()) {
    accumulate_column_sums(dweight.f32(), dims.rows, channels,
                           [&](std::int64_t n, std::int64_t first, std::int64_t width, double* sums) {
                             const float* x = x_all + n * channels + first;
                             const float* g = g_all + n * channels + first;
                             const double m = static_cast<double>(mean_all[n]);
                             const double r = static_cast<double>(rstd_all[n]);
                             for (std::int64_t j = 0; j < width; ++j) {
                               sums[j] += static_cast<double>(g[j]) * ((static_cast<double>(x[j]) - m) * r);
                             }
                           });
  }
  if (dbias.defined()) {
    accumulate_column_sums(dbias.f32(), dims.rows, channels,
                           [&](std::int64_t n, std::int64_t first, std::int64_t width, double* sums) {
                             const float* g = g_all + n * channels + first;
                             for (std::int64_t j = 0; j < width; ++j) sums[j] += static_cast<double>(g[j]);
                           });
  }
}

}  // namespace fthost::backend::cpu
