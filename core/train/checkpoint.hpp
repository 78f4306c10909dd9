#pragma once
// Training checkpoints: everything needed to continue a run as if it had never stopped.
//
//   OUTPUT_DIR/checkpoints/step-00000050/
//     config.json, model.safetensors   the model as a Hugging Face folder (loadable on its own)
//     optimizer.safetensors            AdamW moments: exp_avg.<name>, exp_avg_sq.<name> (f32)
//     trainer_state.json               step, optimizer steps, data position, seed
//
// A checkpoint is written into a hidden temporary folder and renamed into place only once every
// file is complete and synced: a crash (even SIGKILL) mid-save leaves the previous checkpoints
// as they were, and a leftover temporary folder is never mistaken for a checkpoint.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <optional>

#include "data/token_dataset.hpp"
#include "fthost/sdk/error.hpp"
#include "model/transformer.hpp"
#include "train/optimizer.hpp"

namespace fthost::train {

struct TrainerState {
  std::int64_t step = 0;             // training steps completed
  std::int64_t optimizer_steps = 0;  // AdamW's step count (bias corrections)
  data::BatchStream::Position data_position;
  std::uint64_t seed = 0;
  std::int64_t total_steps = 0;
  // Everything the loss trajectory depends on besides the above, as text ("training.learning_rate":
  // "0.0003", "data.rows_per_epoch": "12", ...): a resume with any of these changed is refused.
  std::map<std::string, std::string> settings;
  sdk::LossScaleState loss_scale;  // fp16's scaler (scale 1 otherwise)
};

// Writes checkpoint `state.step` under `checkpoints_folder`, then deletes all but the newest
// `keep_last` checkpoints. Returns the checkpoint's folder.
sdk::Result<std::filesystem::path> save_checkpoint(const std::filesystem::path& checkpoints_folder,
                                                   const model::Transformer& model, const AdamW& optimizer,
                                                   const TrainerState& state, std::int64_t keep_last);

// The newest complete checkpoint under `checkpoints_folder`, if any.
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& checkpoints_folder);

// Reads trainer_state.json of a checkpoint folder.
sdk::Result<TrainerState> read_trainer_state(const std::filesystem::path& checkpoint);

// Restores AdamW's moments and step count from a checkpoint's optimizer.safetensors.
sdk::Result<bool> load_optimizer_state(const std::filesystem::path& checkpoint, AdamW& optimizer,
                                       std::int64_t optimizer_steps);

}  // namespace fthost::train
