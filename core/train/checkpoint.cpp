#include "train/checkpoint.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/adapter_io.hpp"
#include "model/atomic_file.hpp"
#include "model/model_weights.hpp"
#include "model/safetensors.hpp"

namespace fthost::train {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

constexpr std::string_view checkpoint_prefix = "step-";
constexpr const char* state_file = "trainer_state.json";
constexpr const char* optimizer_file = "optimizer.safetensors";
constexpr const char* state_format = "fthost-checkpoint-1";

std::string checkpoint_name(std::int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  return name;
}

// Step number of a checkpoint folder name, or -1 for anything else (temporary folders included).
std::int64_t step_of(const fs::path& folder) {
  std::string name = folder.filename().string();
  if (!name.starts_with(checkpoint_prefix)) return -1;
  std::string digits = name.substr(checkpoint_prefix.size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return std::stoll(digits);
}

std::vector<fs::path> complete_checkpoints(const fs::path& root) {
  std::vector<fs::path> found;
  std::error_code error;
  if (!fs::is_directory(root, error)) return found;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
    if (entry.is_directory() && step_of(entry.path()) >= 0 && fs::exists(entry.path() / state_file)) {
      found.push_back(entry.path());
    }
  }
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) { return step_of(a) < step_of(b); });
  return found;
}

sdk::Result<bool> write_optimizer_state(const fs::path& file, const model::Transformer& model, const AdamW& optimizer) {
  std::vector<std::vector<float>> host;
  std::vector<model::SafetensorsTensor> tensors;
  const model::ParameterLayout& layout = optimizer.first_moment().layout();
  host.reserve(2 * layout.specs().size());
  for (const model::ParameterSpec& spec : layout.specs()) {
    for (const auto& [prefix, moments] : {std::pair{"exp_avg.", &optimizer.first_moment()},
                                          std::pair{"exp_avg_sq.", &optimizer.second_moment()}}) {
      std::vector<float>& values = host.emplace_back(static_cast<std::size_t>(backend::shape_elements(spec.shape)));
      model.backend().download(values.data(), moments->get(spec));
      model::SafetensorsTensor tensor;
      tensor.name = prefix + spec.name;
      tensor.dtype = sdk::DType::f32;
      tensor.shape = spec.shape;
      tensor.bytes = std::as_bytes(std::span<const float>(values));
      tensors.push_back(std::move(tensor));
    }
  }
  auto written = model::write_safetensors(file, tensors, {{"format", "fthost-adamw"}});
  if (!written) return written.error();
  return true;
}

}  // namespace

sdk::Result<fs::path> save_checkpoint(const fs::path& checkpoints_folder, const model::Transformer& model,
                                      const AdamW& optimizer, const TrainerState& state, std::int64_t keep_last) {
  std::error_code error;
  fs::create_directories(checkpoints_folder, error);
  if (error) return Error::invalid_input(checkpoints_folder.string() + ": cannot create folder (" + error.message() + ")");
  const fs::path final_folder = checkpoints_folder / checkpoint_name(state.step);
  const fs::path temporary = checkpoints_folder / (std::string(".") + checkpoint_name(state.step) + ".tmp-" + std::to_string(getpid()));
  fs::remove_all(temporary, error);

  auto abandon = [&](const Error& failure) {
    fs::remove_all(temporary, error);
    return failure;
  };
  // With adapters the base is frozen and stays where model.path points: only the adapter is saved.
  if (const model::SiteAdapters* adapters = model.adapters()) {
    auto saved = model::save_adapter(*adapters, temporary, adapters->base_model());
    if (!saved) return abandon(saved.error());
  } else {
    auto saved = model::save_transformer(model, temporary);
    if (!saved) return abandon(saved.error());
  }
  auto optimizer_saved = write_optimizer_state(temporary / optimizer_file, model, optimizer);
  if (!optimizer_saved) return abandon(optimizer_saved.error());
  nlohmann::json document = {{"format", state_format},
                             {"step", state.step},
                             {"optimizer_steps", optimizer.steps_taken()},
                             {"data_epoch", state.data_position.epoch},
                             {"data_cursor", state.data_position.cursor},
                             {"seed", state.seed},
                             {"total_steps", state.total_steps},
                             {"loss_scale", {{"scale", state.loss_scale.scale},
                                             {"iteration", state.loss_scale.iteration},
                                             {"last_overflow_iteration", state.loss_scale.last_overflow_iteration},
                                             {"hysteresis", state.loss_scale.hysteresis}}},
                             {"settings", state.settings}};
  std::string text = document.dump(2) + "\n";
  std::span<const std::byte> pieces[] = {std::as_bytes(std::span<const char>(text))};
  auto state_written = model::write_file_atomically(temporary / state_file, pieces);
  if (!state_written) return abandon(state_written.error());

  // Replacing a checkpoint of the same step (a resumed run saving again): move the old one aside
  // first, so that a crash between the two renames still leaves a complete copy on disk.
  const fs::path previous = checkpoints_folder / (std::string(".") + checkpoint_name(state.step) + ".old-" + std::to_string(getpid()));
  if (fs::exists(final_folder, error)) fs::rename(final_folder, previous, error);
  fs::rename(temporary, final_folder, error);
  if (error) {
    return abandon(Error::invalid_input(final_folder.string() + ": cannot move the checkpoint into place (" +
                                        error.message() + ")"));
  }
  if (int failed = model::sync_folder(checkpoints_folder); failed != 0) {
    return Error::invalid_input(checkpoints_folder.string() + ": cannot sync folder (" + std::strerror(failed) + ")");
  }
  fs::remove_all(previous, error);

  std::vector<fs::path> checkpoints = complete_checkpoints(checkpoints_folder);
  const auto keep = static_cast<std::size_t>(std::max<std::int64_t>(1, keep_last));
  for (std::size_t i = 0; i + keep < checkpoints.size(); ++i) {
    // Renamed out of the step-N namespace first: a crash mid-delete must not leave a step-N folder
    // that has trainer_state.json but lost its weights.
    fs::path doomed = checkpoints_folder / (std::string(".") + checkpoints[i].filename().string() + ".deleting-" + std::to_string(getpid()));
    fs::rename(checkpoints[i], doomed, error);
    if (!error) fs::remove_all(doomed, error);
  }
  // Temporary folders of this process's earlier, interrupted saves (other processes' are left alone).
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints_folder, error)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(".step-") && name.ends_with(std::string("-") + std::to_string(getpid()))) fs::remove_all(entry.path(), error);
  }
  return final_folder;
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& checkpoints_folder) {
  std::vector<fs::path> checkpoints = complete_checkpoints(checkpoints_folder);
  if (checkpoints.empty()) return std::nullopt;
  return checkpoints.back();
}

sdk::Result<TrainerState> read_trainer_state(const fs::path& checkpoint) {
  const fs::path file = checkpoint / state_file;
  std::ifstream stream(file);
  if (!stream) return Error::invalid_input(file.string() + ": cannot read (not an fthost checkpoint folder?)");
  std::stringstream text;
  text << stream.rdbuf();
  try {
    nlohmann::json document = nlohmann::json::parse(text.str());
    if (document.value("format", "") != state_format) {
      return Error::invalid_input(file.string() + ": format is not " + state_format);
    }
    TrainerState state;
    state.step = document.at("step").get<std::int64_t>();
    state.optimizer_steps = document.at("optimizer_steps").get<std::int64_t>();
    state.data_position.epoch = document.at("data_epoch").get<std::int64_t>();
    state.data_position.cursor = document.at("data_cursor").get<std::size_t>();
    state.seed = document.at("seed").get<std::uint64_t>();
    state.total_steps = document.at("total_steps").get<std::int64_t>();
    if (document.contains("loss_scale")) {  // absent in checkpoints of f32 runs by older fthost
      const auto& scaler = document.at("loss_scale");
      state.loss_scale.scale = scaler.at("scale").get<double>();
      state.loss_scale.iteration = scaler.at("iteration").get<std::int64_t>();
      state.loss_scale.last_overflow_iteration = scaler.at("last_overflow_iteration").get<std::int64_t>();
      state.loss_scale.hysteresis = scaler.at("hysteresis").get<std::int64_t>();
    }
    state.settings = document.at("settings").get<std::map<std::string, std::string>>();
    return state;
  } catch (const nlohmann::json::exception& failure) {
    return Error::invalid_input(file.string() + ": malformed (" + std::string(failure.what()) + ")");
  }
}

sdk::Result<bool> load_optimizer_state(const fs::path& checkpoint, AdamW& optimizer, std::int64_t optimizer_steps) {
  auto file = model::SafetensorsFile::open(checkpoint / optimizer_file);
  if (!file) return file.error();
  const model::ParameterSet& first = optimizer.first_moment();
  for (const model::ParameterSpec& spec : first.layout().specs()) {
    for (const auto& [prefix, moments] : {std::pair{"exp_avg.", &optimizer.first_moment()},
                                          std::pair{"exp_avg_sq.", &optimizer.second_moment()}}) {
      const model::SafetensorsTensor* tensor = file->find(prefix + spec.name);
      if (tensor == nullptr || tensor->dtype != sdk::DType::f32 || tensor->shape != spec.shape) {
        return Error::invalid_input(file->path().string() + ": tensor '" + prefix + spec.name +
                                    "' is missing or not f32 of shape matching the model");
      }
      std::vector<float> values(static_cast<std::size_t>(tensor->element_count()));
      std::memcpy(values.data(), tensor->bytes.data(), values.size() * sizeof(float));
      optimizer.backend().upload(moments->get(spec), values.data());
    }
  }
  optimizer.restore(optimizer_steps);
  return true;
}

}  // namespace fthost::train
