// Token embedding (forward, and backward with repeated ids) and softmax cross-entropy: device
// against CPU.

#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

TEST_CASE("parity: embedding_forward") {
  std::mt19937 rng(60);
  struct Case {
    Shape ids;
    std::int64_t vocabulary, channels;
  };
  for (const Case& c : {Case{{1}, 1, 1}, Case{{2, 150}, 5000, 777}, Case{{33}, 7, 4099}}) {
    CAPTURE(shape_to_string(c.ids));
    CAPTURE(c.vocabulary);
    CAPTURE(c.channels);
    const std::int64_t rows = shape_elements(c.ids);
    auto id_values = random_integers(rows, 0, c.vocabulary - 1, rng);
    id_values.front() = static_cast<std::int32_t>(c.vocabulary - 1);  // the table's edges
    id_values.back() = 0;
    Twin ids = twin(c.ids, id_values);
    Twin table = random_twin({c.vocabulary, c.channels}, rng);
    Twin out = filled_twin({rows, c.channels}, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.embedding_forward(out[side], ids[side], table[side]); });
    check_parity(out, tolerance::kExact, "embedding_forward");
  }
}

TEST_CASE("parity: embedding_backward with repeated ids") {
  std::mt19937 rng(61);
  struct Case {
    std::int64_t rows, vocabulary, channels;
  };
  for (const Case& c : {Case{1, 1, 1}, Case{300, 50, 1000}, Case{300, 5000, 64}, Case{77, 3, 4099}}) {
    CAPTURE(c.rows);
    CAPTURE(c.vocabulary);
    CAPTURE(c.channels);
    // Random ids (repeats wherever rows > vocabulary), and one "hot" id on every third row, as a
    // padding or end-of-text token is.
    auto id_values = random_integers(c.rows, 0, c.vocabulary - 1, rng);
    for (std::size_t n = 0; n < id_values.size(); n += 3) id_values[n] = static_cast<std::int32_t>(c.vocabulary / 2);
    Twin ids = twin({c.rows}, id_values);
    Twin dout = random_twin({c.rows, c.channels}, rng);
    Twin dtable = random_twin({c.vocabulary, c.channels}, rng);
    on_both([&](Backend& backend, Side side) {
      backend.embedding_backward(dtable[side], ids[side], dout[side]);
      backend.embedding_backward(Tensor(), ids[side], dout[side]);  // not wanted: nothing to do
    });
    check_parity(dtable, tolerance::kEmbeddingGradient, "embedding_backward dtable (accumulated)");
  }
}

constexpr std::int32_t kIgnored = -100;

TEST_CASE("parity: cross_entropy_rows") {
  std::mt19937 rng(62);
  struct Case {
    std::int64_t rows, vocabulary;
  };
  for (const Case& c : {Case{1, 1}, Case{300, 7}, Case{37, 5000}, Case{3, 40000}}) {
    for (float gradient_scale : {0.0f, 0.015625f, -0.75f}) {
      CAPTURE(c.rows);
      CAPTURE(c.vocabulary);
      CAPTURE(gradient_scale);
      auto target_values = random_integers(c.rows, 0, c.vocabulary - 1, rng);
      for (std::size_t n = 1; n < target_values.size(); n += 5) target_values[n] = kIgnored;
      if (c.rows > 2) target_values[2] = static_cast<std::int32_t>(c.vocabulary - 1);
      auto logit_values = test::random_values(c.rows * c.vocabulary, rng, -4.0f, 4.0f);
      // Rows far from 0 in both directions: e^x overflows or underflows without the max.
      if (c.rows > 3) {
        for (std::int64_t j = 0; j < c.vocabulary; ++j) {
          logit_values[static_cast<std::size_t>(2 * c.vocabulary + j)] += 80.0f;
          logit_values[static_cast<std::size_t>(3 * c.vocabulary + j)] -= 90.0f;
        }
      }
      Twin targets = twin({c.rows}, target_values);
      Twin logits = twin({c.rows, c.vocabulary}, logit_values);
      Twin losses = filled_twin({c.rows}, std::nanf(""));
      on_both([&](Backend& backend, Side side) {
        backend.cross_entropy_rows(losses[side], logits[side], targets[side], gradient_scale);
      });
      check_parity(losses, tolerance::kLoss, "cross_entropy_rows losses");
      // Scale 0: the logits are left as they were; otherwise the gradient (0 on ignored rows).
      check_parity(logits, gradient_scale == 0.0f ? tolerance::kExact : tolerance::kLossGradient,
                   "cross_entropy_rows logits");
    }
  }
}

TEST_CASE("parity: cross_entropy_rows with every row ignored") {
  Twin targets = twin({4}, std::vector<std::int32_t>(4, kIgnored));
  Twin logits = filled_twin({4, 300}, 1.5f);
  Twin losses = filled_twin({4}, std::nanf(""));
  on_both([&](Backend& backend, Side side) {
    backend.cross_entropy_rows(losses[side], logits[side], targets[side], 0.25f);
  });
  check_parity(losses, tolerance::kExact, "losses of ignored rows");
  check_parity(logits, tolerance::kExact, "gradients of ignored rows");
}

}  // namespace
}  // namespace fthost::backend::parity
