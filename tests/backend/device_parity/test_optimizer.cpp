// AdamW over several steps: device against CPU, each backend carrying its own parameters and
// moments from step to step (so differences may compound, within the stated tolerance).

#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

struct AdamWSettings {
  double lr, beta1, beta2, eps, weight_decay;
};

TEST_CASE("parity: adamw_step over several steps") {
  std::mt19937 rng(80);
  // torch's defaults with weight decay; then 1 - beta1 >= 0.5, where torch.lerp (and so the CPU)
  // switches formulas, with a large learning rate and no decay.
  for (const AdamWSettings& settings :
       {AdamWSettings{1e-3, 0.9, 0.999, 1e-8, 0.01}, AdamWSettings{3e-2, 0.3, 0.5, 1e-6, 0.0}}) {
    for (std::int64_t n : {std::int64_t{5}, std::int64_t{300007}}) {
      CAPTURE(settings.beta1);
      CAPTURE(n);
      Twin param = random_twin({n}, rng);
      Twin m = filled_twin({n}, 0.0f);
      Twin v = filled_twin({n}, 0.0f);
      for (std::int64_t step = 1; step <= 5; ++step) {
        CAPTURE(step);
        // Gradients of mixed magnitudes, so that v spans several orders.
        Twin grad = random_twin({n}, rng, step % 2 == 0 ? -0.01f : -1.0f, step % 2 == 0 ? 0.01f : 1.0f);
        on_both([&](Backend& backend, Side side) {
          backend.adamw_step(param[side], grad[side], m[side], v[side], settings.lr, settings.beta1, settings.beta2,
                             settings.eps, settings.weight_decay, step);
        });
        check_parity(param, tolerance::kAdamW, "adamw_step param");
        check_parity(m, tolerance::kAdamW, "adamw_step m");
        check_parity(v, tolerance::kAdamW, "adamw_step v");
      }
    }
  }
}

}  // namespace
}  // namespace fthost::backend::parity
