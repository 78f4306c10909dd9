// The emulated CUDA runtime's host API: one device, "emulated CUDA device (CPU)", compute
// capability 9.0, whose memory is host memory. Every call completes before it returns, so streams
// and events only check their handles.
//
// Beyond what the real runtime checks, so that host-code mistakes a GPU would punish show here:
//  - memory from cudaMalloc starts as 0xFF bytes (an f32 NaN, an int -1), not zeros;
//  - cudaMemcpy checks its direction against where the pointers live (device memory is what
//    cudaMalloc returned; pinned memory from cudaHostAlloc counts as host memory) and that the
//    device side lies inside one allocation; cudaMemset likewise;
//  - FTHOST_CUDA_EMULATION_MEMORY_BYTES caps device memory (default 80 GiB), so that out-of-memory
//    paths can be exercised.
// A refused call returns the error code the runtime would, records it for cudaGetLastError and
// says why on stderr.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>

#include "fthost_cuda_emulation/emulation.hpp"
#include "fthost_cuda_emulation/runtime_api.hpp"

struct CUstream_st {};
struct CUevent_st {};

namespace fthost::cuda_emulation {
namespace {

constexpr std::size_t kDeviceAlignment = 256;  // cudaMalloc's guarantee
constexpr const char* kDeviceName = "emulated CUDA device (CPU)";

enum class MemoryKind { device, pinned_host };

struct Allocation {
  std::size_t bytes;
  MemoryKind kind;
};

// Every live allocation and handle, by address.
class Registry {
 public:
  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  std::size_t memory_limit() const { return limit_; }

  std::size_t device_bytes() {
    std::lock_guard lock(mutex_);
    return device_bytes_;
  }

  cudaError_t allocate(void** pointer, std::size_t bytes, MemoryKind kind) {
    if (pointer == nullptr) return cudaErrorInvalidValue;
    *pointer = nullptr;
    if (bytes == 0) return cudaSuccess;
    std::lock_guard lock(mutex_);
    if (kind == MemoryKind::device && bytes > limit_ - device_bytes_) return cudaErrorMemoryAllocation;
    void* memory = ::operator new(bytes, std::align_val_t{kDeviceAlignment}, std::nothrow);
    if (memory == nullptr) return cudaErrorMemoryAllocation;
    if (kind == MemoryKind::device) {
      std::memset(memory, 0xFF, bytes);
      device_bytes_ += bytes;
    }
    allocations_.emplace(reinterpret_cast<std::uintptr_t>(memory), Allocation{bytes, kind});
    *pointer = memory;
    return cudaSuccess;
  }

  cudaError_t release(void* pointer, MemoryKind kind) {
    if (pointer == nullptr) return cudaSuccess;
    std::lock_guard lock(mutex_);
    const auto found = allocations_.find(reinterpret_cast<std::uintptr_t>(pointer));
    if (found == allocations_.end() || found->second.kind != kind) return cudaErrorInvalidValue;
    if (kind == MemoryKind::device) device_bytes_ -= found->second.bytes;
    allocations_.erase(found);
    ::operator delete(pointer, std::align_val_t{kDeviceAlignment});
    return cudaSuccess;
  }

  // The allocation holding `pointer` (one past its end included when `end_inclusive`), by base.
  bool find(const void* pointer, bool end_inclusive, std::uintptr_t& base, Allocation& allocation) {
    const auto address = reinterpret_cast<std::uintptr_t>(pointer);
    std::lock_guard lock(mutex_);
    auto found = allocations_.upper_bound(address);
    if (found == allocations_.begin()) return false;
    --found;
    const std::uintptr_t end = found->first + found->second.bytes;
    if (address > end || (address == end && !end_inclusive)) return false;
    base = found->first;
    allocation = found->second;
    return true;
  }

  template <typename Handle>
  std::set<Handle*>& handles();

  template <typename Handle>
  cudaError_t create(Handle** handle) {
    if (handle == nullptr) return cudaErrorInvalidValue;
    std::lock_guard lock(mutex_);
    *handle = new Handle{};
    handles<Handle>().insert(*handle);
    return cudaSuccess;
  }

  template <typename Handle>
  cudaError_t destroy(Handle* handle) {
    std::lock_guard lock(mutex_);
    if (handles<Handle>().erase(handle) == 0) return cudaErrorInvalidResourceHandle;
    delete handle;
    return cudaSuccess;
  }

  template <typename Handle>
  bool is_live(Handle* handle) {
    std::lock_guard lock(mutex_);
    return handles<Handle>().count(handle) != 0;
  }

 private:
  Registry() {
    constexpr std::size_t kDefaultLimit = std::size_t{80} << 30;
    const char* value = std::getenv("FTHOST_CUDA_EMULATION_MEMORY_BYTES");
    const unsigned long long parsed = value != nullptr ? std::strtoull(value, nullptr, 10) : 0;
    limit_ = parsed != 0 ? static_cast<std::size_t>(parsed) : kDefaultLimit;
  }

  std::mutex mutex_;
  std::map<std::uintptr_t, Allocation> allocations_;
  std::set<CUstream_st*> streams_;
  std::set<CUevent_st*> events_;
  std::size_t device_bytes_ = 0;
  std::size_t limit_ = 0;
};

template <>
std::set<CUstream_st*>& Registry::handles<CUstream_st>() {
  return streams_;
}
template <>
std::set<CUevent_st*>& Registry::handles<CUevent_st>() {
  return events_;
}

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;

// Records a refused call: why on stderr, the code for cudaGetLastError.
cudaError_t refuse(cudaError_t error, const std::string& why) {
  report(why);
  return record_error(error);
}

cudaError_t checked(cudaError_t error) { return error == cudaSuccess ? error : record_error(error); }

bool is_device_memory(const void* pointer, std::size_t bytes) {
  std::uintptr_t base = 0;
  Allocation allocation{};
  if (!Registry::instance().find(pointer, false, base, allocation) || allocation.kind != MemoryKind::device) {
    return false;
  }
  return reinterpret_cast<std::uintptr_t>(pointer) - base <= allocation.bytes - bytes && bytes <= allocation.bytes;
}

// Where a pointer lives: in no device allocation (host), or in one (whole range or not).
bool touches_device_memory(const void* pointer) {
  std::uintptr_t base = 0;
  Allocation allocation{};
  return Registry::instance().find(pointer, false, base, allocation) && allocation.kind == MemoryKind::device;
}

cudaError_t check_copy(void* destination, const void* source, std::size_t bytes, cudaMemcpyKind kind) {
  const bool device_destination = touches_device_memory(destination);
  const bool device_source = touches_device_memory(source);
  const char* names[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice", "cudaMemcpyDeviceToHost",
                         "cudaMemcpyDeviceToDevice", "cudaMemcpyDefault"};
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) {
    return refuse(cudaErrorInvalidMemcpyDirection, "cudaMemcpy with an invalid kind");
  }
  const bool want_device_destination = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_device_source = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyDefault && (device_destination != want_device_destination || device_source != want_device_source)) {
    return refuse(cudaErrorInvalidValue, std::string(names[kind]) + " from " + describe_pointer(source) + " to " +
                                             describe_pointer(destination) + ": the direction does not match");
  }
  if (device_destination && !is_device_memory(destination, bytes)) {
    return refuse(cudaErrorInvalidValue, "cudaMemcpy of " + std::to_string(bytes) + " bytes to " +
                                             describe_pointer(destination) + " runs past its allocation");
  }
  if (device_source && !is_device_memory(source, bytes)) {
    return refuse(cudaErrorInvalidValue, "cudaMemcpy of " + std::to_string(bytes) + " bytes from " +
                                             describe_pointer(source) + " runs past its allocation");
  }
  const auto d = reinterpret_cast<std::uintptr_t>(destination), s = reinterpret_cast<std::uintptr_t>(source);
  if (d != s && d < s + bytes && s < d + bytes) {
    return refuse(cudaErrorInvalidValue, "cudaMemcpy between overlapping ranges " + describe_pointer(source) +
                                             " and " + describe_pointer(destination));
  }
  return cudaSuccess;
}

cudaError_t check_stream(cudaStream_t stream, const char* call) {
  if (is_valid_stream(stream)) return cudaSuccess;
  return refuse(cudaErrorInvalidResourceHandle, std::string(call) + " on a stream that is not live");
}

}  // namespace

// ---- emulation.hpp ----

bool is_device_accessible(const void* pointer) {
  std::uintptr_t base = 0;
  Allocation allocation{};
  return Registry::instance().find(pointer, true, base, allocation);
}

bool is_device_range(const void* pointer, std::size_t bytes) {
  std::uintptr_t base = 0;
  Allocation allocation{};
  if (!Registry::instance().find(pointer, true, base, allocation)) return false;
  return bytes <= allocation.bytes && reinterpret_cast<std::uintptr_t>(pointer) - base <= allocation.bytes - bytes;
}

std::string describe_pointer(const void* pointer) {
  std::ostringstream text;
  text << pointer;
  std::uintptr_t base = 0;
  Allocation allocation{};
  if (pointer == nullptr) {
    text << " (null)";
  } else if (Registry::instance().find(pointer, true, base, allocation)) {
    text << " (byte " << reinterpret_cast<std::uintptr_t>(pointer) - base << " of a " << allocation.bytes << "-byte "
         << (allocation.kind == MemoryKind::device ? "device" : "pinned host") << " allocation)";
  } else {
    text << " (host memory)";
  }
  return text.str();
}

bool is_valid_stream(cudaStream_t stream) { return stream == nullptr || Registry::instance().is_live(stream); }

cudaError_t record_error(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

void report(const std::string& message) {
  std::fprintf(stderr, "fthost CUDA emulation: %s\n", message.c_str());
  std::fflush(stderr);
}

void device_fault(const std::string& message) {
  report("device fault: " + message);
  std::abort();
}

}  // namespace fthost::cuda_emulation

namespace emu = fthost::cuda_emulation;

// ---- errors ----

cudaError_t cudaGetLastError() {
  const cudaError_t error = emu::last_error;
  emu::last_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError() { return emu::last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unknown error";
}

// ---- devices ----

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return emu::record_error(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return emu::record_error(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return emu::record_error(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device) {
  if (properties == nullptr) return emu::record_error(cudaErrorInvalidValue);
  if (device != 0) return emu::record_error(cudaErrorInvalidDevice);
  *properties = cudaDeviceProp{};
  std::snprintf(properties->name, sizeof properties->name, "%s", emu::kDeviceName);
  properties->totalGlobalMem = emu::Registry::instance().memory_limit();
  properties->sharedMemPerBlock = 48 * 1024;
  properties->sharedMemPerBlockOptin = 227 * 1024;
  properties->regsPerBlock = 65536;
  properties->warpSize = 32;
  properties->maxThreadsPerBlock = 1024;
  properties->maxThreadsDim[0] = 1024;
  properties->maxThreadsDim[1] = 1024;
  properties->maxThreadsDim[2] = 64;
  properties->maxGridSize[0] = 0x7FFFFFFF;
  properties->maxGridSize[1] = 65535;
  properties->maxGridSize[2] = 65535;
  properties->major = 9;
  properties->minor = 0;
  properties->multiProcessorCount = 132;
  properties->maxThreadsPerMultiProcessor = 2048;
  properties->canMapHostMemory = 1;
  properties->unifiedAddressing = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) return emu::record_error(cudaErrorInvalidDevice);
  emu::current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return emu::record_error(cudaErrorInvalidValue);
  *device = emu::current_device;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return emu::record_error(cudaErrorInvalidValue);
  emu::Registry& registry = emu::Registry::instance();
  *total_bytes = registry.memory_limit();
  *free_bytes = registry.memory_limit() - registry.device_bytes();
  return cudaSuccess;
}

// ---- memory ----

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) {
  return emu::checked(emu::Registry::instance().allocate(pointer, bytes, emu::MemoryKind::device));
}

cudaError_t cudaFree(void* pointer) {
  const cudaError_t error = emu::Registry::instance().release(pointer, emu::MemoryKind::device);
  if (error != cudaSuccess) return emu::refuse(error, "cudaFree of " + emu::describe_pointer(pointer));
  return error;
}

cudaError_t cudaHostAlloc(void** pointer, std::size_t bytes, unsigned int flags) {
  if ((flags & ~(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined)) != 0) {
    return emu::refuse(cudaErrorInvalidValue, "cudaHostAlloc with unknown flags " + std::to_string(flags));
  }
  return emu::checked(emu::Registry::instance().allocate(pointer, bytes, emu::MemoryKind::pinned_host));
}

cudaError_t cudaMallocHost(void** pointer, std::size_t bytes) {
  return cudaHostAlloc(pointer, bytes, cudaHostAllocDefault);
}

cudaError_t cudaFreeHost(void* pointer) {
  const cudaError_t error = emu::Registry::instance().release(pointer, emu::MemoryKind::pinned_host);
  if (error != cudaSuccess) return emu::refuse(error, "cudaFreeHost of " + emu::describe_pointer(pointer));
  return error;
}

// Under unified addressing pinned memory is mapped, at the same address.
cudaError_t cudaHostGetDevicePointer(void** device_pointer, void* host_pointer, unsigned int flags) {
  std::uintptr_t base = 0;
  emu::Allocation allocation{};
  if (device_pointer == nullptr || flags != 0 ||
      !emu::Registry::instance().find(host_pointer, false, base, allocation) ||
      allocation.kind != emu::MemoryKind::pinned_host) {
    return emu::refuse(cudaErrorInvalidValue,
                       "cudaHostGetDevicePointer of " + emu::describe_pointer(host_pointer) + " (not pinned memory)");
  }
  *device_pointer = host_pointer;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* destination, const void* source, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t error = emu::check_copy(destination, source, bytes, kind); error != cudaSuccess) return error;
  std::memcpy(destination, source, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* destination, const void* source, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (const cudaError_t error = emu::check_stream(stream, "cudaMemcpyAsync"); error != cudaSuccess) return error;
  return cudaMemcpy(destination, source, bytes, kind);
}

cudaError_t cudaMemset(void* destination, int value, std::size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!emu::is_device_memory(destination, bytes)) {
    return emu::refuse(cudaErrorInvalidValue, "cudaMemset of " + std::to_string(bytes) + " bytes at " +
                                                  emu::describe_pointer(destination) + ": not inside device memory");
  }
  std::memset(destination, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* destination, int value, std::size_t bytes, cudaStream_t stream) {
  if (const cudaError_t error = emu::check_stream(stream, "cudaMemsetAsync"); error != cudaSuccess) return error;
  return cudaMemset(destination, value, bytes);
}

// ---- streams and events: work is done when it is queued ----

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if ((flags & ~cudaStreamNonBlocking) != 0) return emu::record_error(cudaErrorInvalidValue);
  return emu::checked(emu::Registry::instance().create(stream));
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream == nullptr) return emu::record_error(cudaErrorInvalidResourceHandle);
  return emu::checked(emu::Registry::instance().destroy(stream));
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) { return emu::check_stream(stream, "cudaStreamSynchronize"); }

cudaError_t cudaStreamQuery(cudaStream_t stream) { return emu::check_stream(stream, "cudaStreamQuery"); }

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if ((flags & ~(cudaEventBlockingSync | cudaEventDisableTiming)) != 0) {
    return emu::record_error(cudaErrorInvalidValue);
  }
  return emu::checked(emu::Registry::instance().create(event));
}

cudaError_t cudaEventDestroy(cudaEvent_t event) { return emu::checked(emu::Registry::instance().destroy(event)); }

static cudaError_t check_event(cudaEvent_t event, const char* call) {
  if (emu::Registry::instance().is_live(event)) return cudaSuccess;
  return emu::refuse(cudaErrorInvalidResourceHandle, std::string(call) + " on an event that is not live");
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (const cudaError_t error = check_event(event, "cudaEventRecord"); error != cudaSuccess) return error;
  return emu::check_stream(stream, "cudaEventRecord");
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) { return check_event(event, "cudaEventSynchronize"); }

cudaError_t cudaEventQuery(cudaEvent_t event) { return check_event(event, "cudaEventQuery"); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int /*flags*/) {
  if (const cudaError_t error = check_event(event, "cudaStreamWaitEvent"); error != cudaSuccess) return error;
  return emu::check_stream(stream, "cudaStreamWaitEvent");
}
