// Causal attention inside packed documents (forward, backward) and attention against a key/value
// cache: device against CPU, with grouped-query heads and head sizes from 8 to 128.

#include <cmath>
#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

struct AttentionShape {
  std::int64_t B, T, H, KV, D;
};

// Row 0 is one document; rows 1.. pack documents starting at these positions (a one-token
// document at 0, one at the very end), cut to T.
Twin packed_doc_start(const AttentionShape& s) {
  const std::vector<std::int64_t> starts = {0, 1, 37, 100, s.T - 1};
  std::vector<std::int32_t> doc_start;
  for (std::int64_t b = 0; b < s.B; ++b) {
    std::int64_t current = 0;
    for (std::int64_t t = 0; t < s.T; ++t) {
      if (b > 0) {
        for (std::int64_t start : starts) {
          if (start == t) current = t;
        }
      }
      doc_start.push_back(static_cast<std::int32_t>(current));
    }
  }
  return twin({s.B, s.T}, doc_start);
}

float scale_for(std::int64_t head_size) { return 1.0f / std::sqrt(static_cast<float>(head_size)); }

// The brief's shape with each head size, plus: no grouping with an odd head count, multi-query
// (one key/value head), and a single position.
const std::vector<AttentionShape> kAttentionShapes = {
    {2, 130, 4, 2, 8}, {2, 130, 4, 2, 64}, {2, 130, 4, 2, 128}, {1, 33, 3, 3, 8}, {2, 77, 4, 1, 64}, {1, 1, 2, 2, 64}};

TEST_CASE("parity: attention forward and backward") {
  std::mt19937 rng(70);
  for (const AttentionShape& s : kAttentionShapes) {
    CAPTURE(s.B);
    CAPTURE(s.T);
    CAPTURE(s.H);
    CAPTURE(s.KV);
    CAPTURE(s.D);
    const Shape q_shape{s.B, s.T, s.H, s.D}, kv_shape{s.B, s.T, s.KV, s.D}, lse_shape{s.B, s.H, s.T};
    const float scale = scale_for(s.D);
    Twin doc_start = packed_doc_start(s);
    // Scores with a spread of ~1.3: softmax neither uniform nor one-hot.
    Twin q = random_twin(q_shape, rng, -2.0f, 2.0f);
    Twin k = random_twin(kv_shape, rng, -2.0f, 2.0f);
    Twin v = random_twin(kv_shape, rng);
    Twin out = filled_twin(q_shape, std::nanf(""));
    Twin lse = filled_twin(lse_shape, std::nanf(""));
    on_both([&](Backend& backend, Side side) {
      backend.attention_forward(out[side], lse[side], q[side], k[side], v[side], doc_start[side], scale);
    });
    check_parity(out, tolerance::kAttention, "attention_forward out");
    check_parity(lse, tolerance::kAttentionLse, "attention_forward lse");

    // Backward from the CPU's out and lse on both backends.
    const Twin saved_out = twin(q_shape, values(out, Side::reference));
    const Twin saved_lse = twin(lse_shape, values(lse, Side::reference));
    Twin dout = random_twin(q_shape, rng);
    Twin dq = random_twin(q_shape, rng);
    Twin dk = random_twin(kv_shape, rng);
    Twin dv = random_twin(kv_shape, rng);
    on_both([&](Backend& backend, Side side) {
      backend.attention_backward(dq[side], dk[side], dv[side], dout[side], q[side], k[side], v[side], saved_out[side],
                                 saved_lse[side], doc_start[side], scale);
    });
    check_parity(dq, tolerance::kAttentionGradient, "attention_backward dq (accumulated)");
    check_parity(dk, tolerance::kAttentionGradient, "attention_backward dk (accumulated)");
    check_parity(dv, tolerance::kAttentionGradient, "attention_backward dv (accumulated)");

    // The gradients one or two at a time; the rest not wanted.
    const Twin none = not_wanted();
    on_both([&](Backend& backend, Side side) {
      backend.attention_backward(dq[side], none[side], none[side], dout[side], q[side], k[side], v[side],
                                 saved_out[side], saved_lse[side], doc_start[side], scale);
      backend.attention_backward(none[side], dk[side], none[side], dout[side], q[side], k[side], v[side],
                                 saved_out[side], saved_lse[side], doc_start[side], scale);
      backend.attention_backward(none[side], none[side], dv[side], dout[side], q[side], k[side], v[side],
                                 saved_out[side], saved_lse[side], doc_start[side], scale);
      backend.attention_backward(none[side], dk[side], dv[side], dout[side], q[side], k[side], v[side],
                                 saved_out[side], saved_lse[side], doc_start[side], scale);
      backend.attention_backward(none[side], none[side], none[side], dout[side], q[side], k[side], v[side],
                                 saved_out[side], saved_lse[side], doc_start[side], scale);
    });
    check_parity(dq, tolerance::kAttentionGradient, "attention_backward dq alone");
    check_parity(dk, tolerance::kAttentionGradient, "attention_backward dk alone, then with dv");
    check_parity(dv, tolerance::kAttentionGradient, "attention_backward dv alone, then with dk");
  }
}

TEST_CASE("parity: attention_cached") {
  std::mt19937 rng(71);
  struct Case {
    std::int64_t queries, past, cache;  // cache >= past + queries; rows beyond are never read
  };
  for (std::int64_t D : {std::int64_t{8}, std::int64_t{64}, std::int64_t{128}}) {
    for (const Case& c : {Case{1, 0, 1}, Case{7, 0, 9}, Case{5, 60, 70}, Case{1, 129, 130}, Case{33, 200, 256}}) {
      constexpr std::int64_t H = 4, KV = 2;
      CAPTURE(D);
      CAPTURE(c.queries);
      CAPTURE(c.past);
      CAPTURE(c.cache);
      // Cache rows at and beyond past + queries are NaN: reading one would poison the output.
      auto keys = test::random_values(c.cache * KV * D, rng, -2.0f, 2.0f);
      auto cached_values = test::random_values(c.cache * KV * D, rng);
      const auto valid = static_cast<std::size_t>((c.past + c.queries) * KV * D);
      std::fill(keys.begin() + static_cast<std::ptrdiff_t>(valid), keys.end(), std::nanf(""));
      std::fill(cached_values.begin() + static_cast<std::ptrdiff_t>(valid), cached_values.end(), std::nanf(""));
      Twin k_cache = twin({c.cache, KV, D}, keys);
      Twin v_cache = twin({c.cache, KV, D}, cached_values);
      Twin q = random_twin({c.queries, H, D}, rng, -2.0f, 2.0f);
      Twin out = filled_twin({c.queries, H, D}, std::nanf(""));
      on_both([&](Backend& backend, Side side) {
        backend.attention_cached(out[side], q[side], k_cache[side], v_cache[side], c.past, scale_for(D));
      });
      check_parity(out, tolerance::kAttention, "attention_cached");
    }
  }
}

}  // namespace
}  // namespace fthost::backend::parity
