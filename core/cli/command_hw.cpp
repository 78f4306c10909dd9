// `fthost hw`: what this machine offers fthost — GPUs as the CUDA runtime reports them, the CPU's
// cores, memory and the vector / matrix units the CPU backend uses — and what to run on it.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "backend/select_backend.hpp"
#include "cli.hpp"

#ifdef FTHOST_HAVE_CUDA
#include "backend/cuda/device_info.hpp"
#endif

namespace fthost::cli {
namespace {

struct CpuFacts {
  std::string model = "unknown";
  std::set<std::string> flags;
  long logical_cores = 0;
  double memory_gib = 0.0;
};

CpuFacts read_cpu_facts() {
  CpuFacts facts;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && facts.model == "unknown") facts.model = value;
    if (key == "flags" && facts.flags.empty()) {
      std::istringstream words(value);
      for (std::string flag; words >> flag;) facts.flags.insert(flag);
    }
  }
  facts.logical_cores = sysconf(_SC_NPROCESSORS_ONLN);
  facts.memory_gib = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
                     (1024.0 * 1024.0 * 1024.0);
  return facts;
}

#ifdef FTHOST_HAVE_CUDA
std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}
#endif

}  // namespace

int run_hw_command(const Arguments& arguments) {
  for (const std::string& argument : arguments) {
    if (argument == "--help" || argument == "-h") {
      std::cout << "usage: fthost hw\n\nLists the GPUs the CUDA runtime sees (name, memory, compute capability, "
                   "driver and runtime\nversions) and the CPU (model, cores, memory, the vector and matrix units the "
                   "CPU backend\nuses), then what fthost can run here.\n";
      return exit_ok;
    }
    return report_error(sdk::Error::invalid_input("command line: hw takes no arguments (got '" + argument + "')"));
  }
  bool gpu_found = false;
  std::cout << "GPUs\n";
#ifdef FTHOST_HAVE_CUDA
  backend::cuda::CudaInventory inventory = backend::cuda::query_cuda_devices();
  if (inventory.driver_version > 0 || inventory.runtime_version > 0) {
    std::cout << "  CUDA driver " << (inventory.driver_version > 0 ? version_text(inventory.driver_version) : "none")
              << ", runtime " << version_text(inventory.runtime_version) << "\n";
  }
  for (const backend::cuda::DeviceInfo& device : inventory.devices) {
    gpu_found = true;
    char line[256];
    std::snprintf(line, sizeof line, "  cuda:%d  %s, %.1f GiB, compute capability %d.%d, %d SMs\n", device.index,
                  device.name.c_str(), static_cast<double>(device.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0),
                  device.compute_capability_major, device.compute_capability_minor, device.multiprocessors);
    std::cout << line;
  }
  if (!gpu_found) std::cout << "  none (" << inventory.problem << ")\n";
#else
  std::cout << "  not queried: this fthost was built without the CUDA backend (FTHOST_CUDA=OFF or no nvcc)\n";
#endif

  const CpuFacts cpu = read_cpu_facts();
  std::cout << "CPU\n  " << cpu.model << "\n  " << cpu.logical_cores << " logical cores, ";
  char memory[64];
  std::snprintf(memory, sizeof memory, "%.1f GiB memory\n", cpu.memory_gib);
  std::cout << memory << "  units:";
  const bool amx = cpu.flags.count("amx_bf16") > 0 && cpu.flags.count("amx_tile") > 0;
  for (const char* flag : {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}) {
    std::cout << " " << flag << (cpu.flags.count(flag) > 0 ? "" : " (no)");
  }
  std::cout << "\n";

  std::cout << "What runs here\n";
  const backend::BackendResolution automatic = backend::resolve_backend("auto");
  if (automatic.kind == sdk::BackendKind::cuda) {
    std::cout << "  backend cuda (what model.backend auto picks): " << automatic.description
              << "; full fine-tuning or LoRA, precision fp32, bf16 or fp16; quantized bases (quant_nf4, quant_int8) "
                 "run on the CPU backend only in this version\n";
  } else if (gpu_found) {
    std::cout << "  a GPU is present, but the CUDA backend cannot use it: "
              << backend::resolve_backend("cuda").problem << "\n";
  } else if (!backend::cuda_backend_built()) {
    std::cout << "  no CUDA backend in this build\n";
  }
  std::cout << "  backend cpu: full fine-tuning or LoRA, precision fp32, bf16 or fp16"
            << (amx ? " (bf16 GEMMs on AMX)" : "") << "; OpenMP uses " << cpu.logical_cores
            << " threads unless OMP_NUM_THREADS says otherwise\n";
  return exit_ok;
}

}  // namespace fthost::cli
