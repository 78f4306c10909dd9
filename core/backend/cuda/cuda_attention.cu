// Causal self-attention inside documents on the CUDA backend: what cpu_attention.cpp computes
// (and cpu_attention_cached.cpp for decoding), in FlashAttention-2's form, with no [T,T] matrix.
//
// Layout: q [B,T,H,D], k and v [B,T,KV,D], out [B,T,H,D], lse [B,H,T], doc_start [B,T]. Query
// head h reads key/value head h / (H / KV). Query t attends keys s with doc_start[t] <= s <= t.
//
// Work split: a team of kLanes consecutive threads owns one row (a query; in the backward's key
// pass, a key). Lane l holds head dimensions l, l + kLanes, l + 2 kLanes, ... in registers:
// strided, so that a team's reads of one shared-memory row fall in distinct banks. A dot product
// is the lanes' partial sums combined by a fixed butterfly of shuffles. The other side's rows
// (keys and values, or queries and output gradients) pass through shared memory a tile at a
// time. Kernels exist for head sizes up to 16, 32, 64, 128 and 256; loops stop at the runtime
// head size.
//
// Arithmetic differs from the CPU's by f32 rounding only: dot products are summed in another
// order; the softmax runs online in f32 (running maximum, rescaled sums) where the CPU finds the
// maximum first and sums in f64; expf stands for the CPU's exp_f32. The forward and both backward
// kernels form a score from the same products in the same order, so the backward's probabilities
// exp(scale q.k - lse) match the forward's up to the rounding of lse.
//
// Determinism: each output row is summed by one team in a fixed order; the key pass sums a key's
// gradients over the group's query heads itself, so dk and dv need no atomics.
//
// A doc_start outside [0, t] is recorded as kErrorDocStart (the backend raises at its next
// synchronisation, where the CPU throws before computing) and its query is skipped: the forward
// writes 0 to its output row and lse, the backward leaves it out of every gradient.

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

constexpr int kAttentionThreads = 128;  // threads of a training-attention block
constexpr int kMaxHeadSize = 256;

template <int kLanesValue, int kSliceValue>
struct Team {
  static constexpr int kLanes = kLanesValue;  // threads sharing one row, a power of two <= 32
  static constexpr int kSlice = kSliceValue;  // head dimensions each of them holds
  static constexpr int kMaxHead = kLanes * kSlice;
  static constexpr int kRowsPerBlock = kAttentionThreads / kLanes;
  // Rows of each of a block's two shared tiles: at most 16 KiB a tile, 32 KiB a block.
  static constexpr int kTileRows = kMaxHead <= 64 ? 64 : 4096 / kMaxHead;
};

// Calls body(Team<...>{}) with the smallest team layout that holds head_size.
template <class Body>
void with_team_for(i64 head_size, const char* op, Body&& body) {
  if (head_size <= 16) {
    body(Team<1, 16>{});
  } else if (head_size <= 32) {
    body(Team<1, 32>{});
  } else if (head_size <= 64) {
    body(Team<2, 32>{});
  } else if (head_size <= 128) {
    body(Team<4, 32>{});
  } else if (head_size <= kMaxHeadSize) {
    body(Team<8, 32>{});
  } else {
    throw std::invalid_argument(std::string(op) + ": head_size " + std::to_string(head_size) +
                                " exceeds the CUDA kernels' maximum of " + std::to_string(kMaxHeadSize));
  }
}

unsigned grid_blocks(i64 blocks, const char* op) {
  if (blocks > std::numeric_limits<int>::max()) {
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(blocks) +
                                " thread blocks exceed the CUDA grid limit of 2^31 - 1");
  }
  return static_cast<unsigned>(blocks);
}

__device__ inline i64 min_i64(i64 a, i64 b) { return a < b ? a : b; }

// Sum over a team's lanes. Both sides of each butterfly step add the same two values, so every
// lane gets the same bits. Every thread of the warp must call it.
template <int kLanes>
__device__ inline float team_sum(float value) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// registers[i] = row[lane + kLanes i], 0 beyond the head size or when the row is absent.
template <class T>
__device__ inline void load_slice(float (&registers)[T::kSlice], const float* row, bool present, int lane,
                                  int head_size) {
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    registers[i] = present && d < head_size ? row[d] : 0.0f;
  }
}

// registers . row over the whole head, the same in every lane of the team.
template <class T>
__device__ inline float team_dot(const float (&registers)[T::kSlice], const float* row, int lane, int head_size) {
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    if (d < head_size) sum += registers[i] * row[d];
  }
  return team_sum<T::kLanes>(sum);
}

// accumulator += weight * row, over the lane's dimensions.
template <class T>
__device__ inline void team_accumulate(float (&accumulator)[T::kSlice], float weight, const float* row, int lane,
                                       int head_size) {
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    if (d < head_size) accumulator[i] += weight * row[d];
  }
}

// tile[r, :] = rows[r * row_stride, :] for r < count (tile rows packed at head_size), by the
// whole block, consecutive threads on consecutive dimensions of a row.
__device__ inline void load_tile(float* tile, const float* rows, i64 row_stride, int count, int head_size) {
  const int elements = count * head_size;
  for (int index = static_cast<int>(threadIdx.x); index < elements; index += static_cast<int>(blockDim.x)) {
    const int r = index / head_size;
    tile[index] = rows[r * row_stride + (index - r * head_size)];
  }
}

// The queries of a block (b, h, query tile), one per team, and the keys they may see.
struct QueryTile {
  i64 b, h, t;        // this thread's query; t may lie beyond the sequence
  i64 start;          // its doc_start
  bool active;        // t is in the sequence and its doc_start valid
  i64 first_key;      // keys [first_key, last_key] hold every key the block's queries see;
  i64 last_key;       // empty (first > last) when no query is active
};

// Later query tiles see more keys: they get the lower block indices and start first, so that the
// short ones fill the tail. Synchronises the block.
template <class T>
__device__ QueryTile query_tile_of_block(const std::int32_t* doc_start, i64 sequence, i64 heads, int* error,
                                         i64* reduction) {
  QueryTile tile;
  const i64 tiles = (sequence + T::kRowsPerBlock - 1) / T::kRowsPerBlock;
  const i64 block = blockIdx.x;
  const i64 index = tiles - 1 - block % tiles;
  tile.h = (block / tiles) % heads;
  tile.b = block / tiles / heads;
  tile.t = index * T::kRowsPerBlock + threadIdx.x / T::kLanes;
  tile.active = tile.t < sequence;
  tile.start = 0;
  if (tile.active) {
    tile.start = doc_start[tile.b * sequence + tile.t];
    if (tile.start < 0 || tile.start > tile.t) {
      if (threadIdx.x % T::kLanes == 0) record_error(error, kErrorDocStart);
      tile.active = false;
    }
  }
  tile.first_key = -block_max<i64>(tile.active ? -tile.start : -sequence, reduction, -sequence);
  tile.last_key = block_max<i64>(tile.active ? tile.t : -1, reduction, -1);
  return tile;
}

// out and lse of block (b, h, query tile): each team runs an online softmax over the keys its
// query sees, as K and V tiles pass through shared memory.
template <class T>
__global__ void __launch_bounds__(kAttentionThreads)
    attention_forward_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ q,
                             const float* __restrict__ k, const float* __restrict__ v,
                             const std::int32_t* __restrict__ doc_start, i64 sequence, i64 heads, i64 kv_heads,
                             int head_size, float scale, int* error) {
  __shared__ float key_tile[T::kTileRows * T::kMaxHead];
  __shared__ float value_tile[T::kTileRows * T::kMaxHead];
  __shared__ i64 reduction[32];
  const int D = head_size;
  const int lane = static_cast<int>(threadIdx.x) % T::kLanes;
  const QueryTile tile = query_tile_of_block<T>(doc_start, sequence, heads, error, reduction);
  const i64 b = tile.b, h = tile.h, t = tile.t, g = h / (heads / kv_heads);
  const i64 q_offset = ((b * sequence + t) * heads + h) * D;

  float query[T::kSlice];
  float accumulator[T::kSlice] = {};
  load_slice<T>(query, q + q_offset, tile.active, lane, D);
  float running_max = -INFINITY, denominator = 0.0f;

  const i64 kv_stride = kv_heads * D;  // between consecutive positions of one kv head
  const float* keys = k + b * sequence * kv_stride + g * D;
  const float* values = v + b * sequence * kv_stride + g * D;
  for (i64 tile_first = tile.first_key; tile_first <= tile.last_key; tile_first += T::kTileRows) {
    const int count = static_cast<int>(min_i64(T::kTileRows, tile.last_key - tile_first + 1));
    __syncthreads();  // the previous tile may still be read
    load_tile(key_tile, keys + tile_first * kv_stride, kv_stride, count, D);
    load_tile(value_tile, values + tile_first * kv_stride, kv_stride, count, D);
    __syncthreads();
    for (int j = 0; j < count; ++j) {
      // Computed by every team (the lanes' shuffles need the whole warp), used where visible.
      const float score = team_dot<T>(query, key_tile + j * D, lane, D) * scale;
      const i64 s = tile_first + j;
      if (!tile.active || s < tile.start || s > t) continue;
      if (score > running_max) {  // rescale what was summed against the old maximum (0 at first)
        const float correction = expf(running_max - score);
        denominator *= correction;
#pragma unroll
        for (int i = 0; i < T::kSlice; ++i) accumulator[i] *= correction;
        running_max = score;
      }
      const float weight = expf(score - running_max);
      denominator += weight;
      team_accumulate<T>(accumulator, weight, value_tile + j * D, lane, D);
    }
  }

  if (t >= sequence) return;
  float* row = out + q_offset;
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    if (d < D) row[d] = tile.active ? accumulator[i] / denominator : 0.0f;
  }
  if (lane == 0) {
    lse[(b * heads + h) * sequence + t] =
        tile.active ? static_cast<float>(static_cast<double>(running_max) + log(static_cast<double>(denominator)))
                    : 0.0f;
  }
}

// delta[b,h,t] = dout[b,t,h,:] . out[b,t,h,:], the softmax Jacobian's correction term: one warp
// per (b, t, h) row.
__global__ void attention_delta_kernel(float* __restrict__ delta, const float* __restrict__ dout,
                                       const float* __restrict__ out, i64 rows, i64 sequence, i64 heads,
                                       int head_size) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const i64 warps_per_block = blockDim.x / 32;
  const i64 warps = static_cast<i64>(gridDim.x) * warps_per_block;
  for (i64 row = static_cast<i64>(blockIdx.x) * warps_per_block + threadIdx.x / 32; row < rows; row += warps) {
    const float* gradient = dout + row * head_size;
    const float* output = out + row * head_size;
    float sum = 0.0f;
    for (int d = lane; d < head_size; d += 32) sum += gradient[d] * output[d];
    sum = warp_sum(sum);
    if (lane == 0) {
      const i64 h = row % heads, t = (row / heads) % sequence, b = row / (heads * sequence);
      delta[(b * heads + h) * sequence + t] = sum;
    }
  }
}

// dk and dv of block (b, kv head g, key tile), one key per team: over the group's query heads and
// the queries that may see the block's keys, with query and dout tiles in shared memory,
//   p = exp(scale q.k - lse),  dv += p dout,  dk += scale p (dout.v - delta) q.
template <class T>
__global__ void __launch_bounds__(kAttentionThreads)
    attention_backward_keys_kernel(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ dout,
                                   const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, const float* __restrict__ lse,
                                   const float* __restrict__ delta, const std::int32_t* __restrict__ doc_start,
                                   i64 sequence, i64 heads, i64 kv_heads, int head_size, float scale, int* error) {
  __shared__ float query_tile[T::kTileRows * T::kMaxHead];
  __shared__ float dout_tile[T::kTileRows * T::kMaxHead];
  __shared__ float lse_tile[T::kTileRows];
  __shared__ float delta_tile[T::kTileRows];
  __shared__ i64 start_tile[T::kTileRows];
  __shared__ i64 reduction[32];
  const int D = head_size;
  const int lane = static_cast<int>(threadIdx.x) % T::kLanes;
  // Earlier key tiles are seen by more queries; the natural order already starts them first.
  const i64 tiles = (sequence + T::kRowsPerBlock - 1) / T::kRowsPerBlock;
  const i64 block = blockIdx.x;
  const i64 g = (block / tiles) % kv_heads, b = block / tiles / kv_heads;
  const i64 group = heads / kv_heads;
  const i64 first_block_key = (block % tiles) * T::kRowsPerBlock;
  const i64 last_block_key = min_i64(sequence - 1, first_block_key + T::kRowsPerBlock - 1);
  const i64 s = first_block_key + threadIdx.x / T::kLanes;
  const bool key_valid = s < sequence;
  const i64 kv_offset = ((b * sequence + s) * kv_heads + g) * D;

  float key[T::kSlice], value[T::kSlice];
  float dk_sum[T::kSlice] = {}, dv_sum[T::kSlice] = {};
  load_slice<T>(key, k + kv_offset, key_valid, lane, D);
  load_slice<T>(value, v + kv_offset, key_valid, lane, D);

  // Queries before the block's first key see none of its keys; after the last query that starts
  // its document at or before the block's last key, none do either. Any doc_start layout is
  // allowed, so the whole rest of the row is scanned (T integers, small next to the work).
  const std::int32_t* starts = doc_start + b * sequence;
  i64 last_query = -1;
  for (i64 t = first_block_key + threadIdx.x; t < sequence; t += blockDim.x) {
    const i64 start = starts[t];
    if (start < 0 || start > t) {
      record_error(error, kErrorDocStart);  // here too: the query may lie beyond every staged tile
    } else if (start <= last_block_key) {
      last_query = t;
    }
  }
  last_query = block_max<i64>(last_query, reduction, -1);

  const i64 q_stride = heads * D;  // between consecutive positions of one query head
  for (i64 h = g * group; h < (g + 1) * group; ++h) {
    const float* queries = q + b * sequence * q_stride + h * D;
    const float* gradients = dout + b * sequence * q_stride + h * D;
    const float* lse_row = lse + (b * heads + h) * sequence;
    const float* delta_row = delta + (b * heads + h) * sequence;
    for (i64 tile_first = first_block_key; tile_first <= last_query; tile_first += T::kTileRows) {
      const int count = static_cast<int>(min_i64(T::kTileRows, last_query - tile_first + 1));
      __syncthreads();  // the previous tile may still be read
      load_tile(query_tile, queries + tile_first * q_stride, q_stride, count, D);
      load_tile(dout_tile, gradients + tile_first * q_stride, q_stride, count, D);
      for (int j = static_cast<int>(threadIdx.x); j < count; j += static_cast<int>(blockDim.x)) {
        const i64 t = tile_first + j;
        i64 start = starts[t];
        if (start < 0 || start > t) {
          record_error(error, kErrorDocStart);
          start = sequence;  // past every key: the query sees none
        }
        start_tile[j] = start;
        lse_tile[j] = lse_row[t];
        delta_tile[j] = delta_row[t];
      }
      __syncthreads();
      for (int j = 0; j < count; ++j) {
        const float* query_row = query_tile + j * D;
        const float* dout_row = dout_tile + j * D;
        const float score = team_dot<T>(key, query_row, lane, D);
        const float dprob = team_dot<T>(value, dout_row, lane, D);
        const i64 t = tile_first + j;
        if (!key_valid || s > t || s < start_tile[j]) continue;
        const float probability = expf(scale * score - lse_tile[j]);
        const float ds = probability * (dprob - delta_tile[j]);
        team_accumulate<T>(dv_sum, probability, dout_row, lane, D);
        team_accumulate<T>(dk_sum, ds, query_row, lane, D);
      }
    }
  }

  if (!key_valid) return;
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    if (d >= D) continue;
    if (dk != nullptr) dk[kv_offset + d] += scale * dk_sum[i];
    if (dv != nullptr) dv[kv_offset + d] += dv_sum[i];
  }
}

// dq of block (b, h, query tile), one query per team, with K and V tiles in shared memory:
//   dq += scale sum_s p (dout.v_s - delta) k_s.
template <class T>
__global__ void __launch_bounds__(kAttentionThreads)
    attention_backward_queries_kernel(float* __restrict__ dq, const float* __restrict__ dout,
                                      const float* __restrict__ q, const float* __restrict__ k,
                                      const float* __restrict__ v, const float* __restrict__ lse,
                                      const float* __restrict__ delta, const std::int32_t* __restrict__ doc_start,
                                      i64 sequence, i64 heads, i64 kv_heads, int head_size, float scale,
                                      int* error) {
  __shared__ float key_tile[T::kTileRows * T::kMaxHead];
  __shared__ float value_tile[T::kTileRows * T::kMaxHead];
  __shared__ i64 reduction[32];
  const int D = head_size;
  const int lane = static_cast<int>(threadIdx.x) % T::kLanes;
  const QueryTile tile = query_tile_of_block<T>(doc_start, sequence, heads, error, reduction);
  const i64 b = tile.b, h = tile.h, t = tile.t, g = h / (heads / kv_heads);
  const i64 q_offset = ((b * sequence + t) * heads + h) * D;
  const i64 stat = (b * heads + h) * sequence + t;

  float query[T::kSlice], gradient[T::kSlice];
  float dq_sum[T::kSlice] = {};
  load_slice<T>(query, q + q_offset, tile.active, lane, D);
  load_slice<T>(gradient, dout + q_offset, tile.active, lane, D);
  const float lse_t = tile.active ? lse[stat] : 0.0f;
  const float delta_t = tile.active ? delta[stat] : 0.0f;

  const i64 kv_stride = kv_heads * D;
  const float* keys = k + b * sequence * kv_stride + g * D;
  const float* values = v + b * sequence * kv_stride + g * D;
  for (i64 tile_first = tile.first_key; tile_first <= tile.last_key; tile_first += T::kTileRows) {
    const int count = static_cast<int>(min_i64(T::kTileRows, tile.last_key - tile_first + 1));
    __syncthreads();  // the previous tile may still be read
    load_tile(key_tile, keys + tile_first * kv_stride, kv_stride, count, D);
    load_tile(value_tile, values + tile_first * kv_stride, kv_stride, count, D);
    __syncthreads();
    for (int j = 0; j < count; ++j) {
      const float* key_row = key_tile + j * D;
      const float score = team_dot<T>(query, key_row, lane, D);
      const float dprob = team_dot<T>(gradient, value_tile + j * D, lane, D);
      const i64 s = tile_first + j;
      if (!tile.active || s < tile.start || s > t) continue;
      const float probability = expf(scale * score - lse_t);
      team_accumulate<T>(dq_sum, probability * (dprob - delta_t), key_row, lane, D);
    }
  }

  if (!tile.active) return;
#pragma unroll
  for (int i = 0; i < T::kSlice; ++i) {
    const int d = lane + T::kLanes * i;
    if (d < D) dq[q_offset + d] += scale * dq_sum[i];
  }
}

// ---- decoding against a key/value cache ----

constexpr int kCachedThreads = 256;
constexpr int kCachedWarps = kCachedThreads / 32;

// out[t,h,:] for block (t, h): warp w runs an online softmax over keys w, w + 8, ... of the
// keys 0 .. past + t (lane l holds dimensions l, l + 32, ...), then the warps' partial results are
// merged in warp order. Queries are few, so parallelism comes from the keys.
template <int kChunks>  // head dimensions per lane: head_size <= 32 kChunks
__global__ void __launch_bounds__(kCachedThreads)
    attention_cached_kernel(float* __restrict__ out, const float* __restrict__ q,
                            const float* __restrict__ k_cache, const float* __restrict__ v_cache, i64 heads,
                            i64 kv_heads, int head_size, i64 past, float scale) {
  __shared__ float warp_max[kCachedWarps];
  __shared__ float warp_denominator[kCachedWarps];
  __shared__ float warp_sums[kCachedWarps][kChunks * 32];
  const int D = head_size;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const i64 t = blockIdx.x / heads, h = blockIdx.x % heads, g = h / (heads / kv_heads);
  const i64 q_offset = (t * heads + h) * D;

  float query[kChunks];
  float sum[kChunks] = {};
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int d = lane + 32 * i;
    query[i] = d < D ? q[q_offset + d] : 0.0f;
  }
  float running_max = -INFINITY, denominator = 0.0f;
  const i64 keys_seen = past + t + 1;
  for (i64 s = warp; s < keys_seen; s += kCachedWarps) {
    const float* key = k_cache + (s * kv_heads + g) * D;
    const float* value = v_cache + (s * kv_heads + g) * D;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      const int d = lane + 32 * i;
      if (d < D) dot += query[i] * key[d];
    }
    const float score = warp_sum(dot) * scale;
    if (score > running_max) {
      const float correction = expf(running_max - score);
      denominator *= correction;
#pragma unroll
      for (int i = 0; i < kChunks; ++i) sum[i] *= correction;
      running_max = score;
    }
    const float weight = expf(score - running_max);
    denominator += weight;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      const int d = lane + 32 * i;
      if (d < D) sum[i] += weight * value[d];
    }
  }
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_denominator[warp] = denominator;
  }
#pragma unroll
  for (int i = 0; i < kChunks; ++i) warp_sums[warp][lane + 32 * i] = sum[i];
  __syncthreads();

  // A warp that saw no key (past + t + 1 < 8) has maximum -inf and weight 0; warp 0 always sees key 0.
  float overall_max = warp_max[0];
  for (int w = 1; w < kCachedWarps; ++w) overall_max = fmaxf(overall_max, warp_max[w]);
  float weights[kCachedWarps];
  float total = 0.0f;
  for (int w = 0; w < kCachedWarps; ++w) {
    weights[w] = expf(warp_max[w] - overall_max);
    total += warp_denominator[w] * weights[w];
  }
  for (int d = static_cast<int>(threadIdx.x); d < D; d += kCachedThreads) {
    float value = 0.0f;
    for (int w = 0; w < kCachedWarps; ++w) value += warp_sums[w][d] * weights[w];
    out[q_offset + d] = value / total;
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const std::int32_t* doc_start, i64 batch, i64 sequence, i64 heads, i64 kv_heads,
                       i64 head_size, float scale, int* error, cudaStream_t stream) {
  with_team_for(head_size, "attention_forward", [&](auto team) {
    using T = decltype(team);
    if (batch == 0 || sequence == 0 || heads == 0) return;
    const i64 tiles = (sequence + T::kRowsPerBlock - 1) / T::kRowsPerBlock;
    FTHOST_LAUNCH(grid_blocks(batch * heads * tiles, "attention_forward"), kAttentionThreads, 0, stream,
                  attention_forward_kernel<T>)(
        out, lse, q, k, v, doc_start, sequence, heads, kv_heads, static_cast<int>(head_size), scale, error);
    check_launch("attention_forward");
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const std::int32_t* doc_start,
                        i64 batch, i64 sequence, i64 heads, i64 kv_heads, i64 head_size, float scale,
                        Scratch& scratch, int* error, cudaStream_t stream) {
  if (dq == nullptr && dk == nullptr && dv == nullptr) return;  // as the CPU: nothing wanted, nothing checked
  with_team_for(head_size, "attention_backward", [&](auto team) {
    using T = decltype(team);
    if (batch == 0 || sequence == 0 || heads == 0) return;
    const int D = static_cast<int>(head_size);
    const i64 rows = batch * sequence * heads;

    // delta [B,H,T]
    float* delta = static_cast<float*>(scratch.get(sizeof(float) * static_cast<std::size_t>(rows)));
    FTHOST_LAUNCH(grid_for(rows * 32), kThreads, 0, stream, attention_delta_kernel)(
        delta, dout, out, rows, sequence, heads, D);
    check_launch("attention_backward (delta)");

    const i64 tiles = (sequence + T::kRowsPerBlock - 1) / T::kRowsPerBlock;
    if (dk != nullptr || dv != nullptr) {
      FTHOST_LAUNCH(grid_blocks(batch * kv_heads * tiles, "attention_backward"), kAttentionThreads, 0, stream,
                    attention_backward_keys_kernel<T>)(
          dk, dv, dout, q, k, v, lse, delta, doc_start, sequence, heads, kv_heads, D, scale, error);
      check_launch("attention_backward (keys)");
    }
    if (dq != nullptr) {
      FTHOST_LAUNCH(grid_blocks(batch * heads * tiles, "attention_backward"), kAttentionThreads, 0, stream,
                    attention_backward_queries_kernel<T>)(
          dq, dout, q, k, v, lse, delta, doc_start, sequence, heads, kv_heads, D, scale, error);
      check_launch("attention_backward (queries)");
    }
  });
}

void attention_cached(float* out, const float* q, const float* k_cache, const float* v_cache, i64 queries,
                      i64 heads, i64 kv_heads, i64 head_size, i64 past, float scale, cudaStream_t stream) {
  if (head_size > kMaxHeadSize) {
    throw std::invalid_argument("attention_cached: head_size " + std::to_string(head_size) +
                                " exceeds the CUDA kernels' maximum of " + std::to_string(kMaxHeadSize));
  }
  if (queries == 0 || heads == 0) return;
  const unsigned blocks = grid_blocks(queries * heads, "attention_cached");
  const int D = static_cast<int>(head_size);
  if (head_size <= 32) {
    FTHOST_LAUNCH(blocks, kCachedThreads, 0, stream, attention_cached_kernel<1>)(
        out, q, k_cache, v_cache, heads, kv_heads, D, past, scale);
  } else if (head_size <= 64) {
    FTHOST_LAUNCH(blocks, kCachedThreads, 0, stream, attention_cached_kernel<2>)(
        out, q, k_cache, v_cache, heads, kv_heads, D, past, scale);
  } else if (head_size <= 128) {
    FTHOST_LAUNCH(blocks, kCachedThreads, 0, stream, attention_cached_kernel<4>)(
        out, q, k_cache, v_cache, heads, kv_heads, D, past, scale);
  } else {
    FTHOST_LAUNCH(blocks, kCachedThreads, 0, stream, attention_cached_kernel<8>)(
        out, q, k_cache, v_cache, heads, kv_heads, D, past, scale);
  }
  check_launch("attention_cached");
}

}  // namespace fthost::backend::cuda::kernels
