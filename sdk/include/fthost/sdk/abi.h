/* The plain-C front of every fthost plugin.
 *
 * The host reads this descriptor before it calls any C++ code in the plugin, so a plugin built
 * against another SDK (different ABI number, different SDK headers, different C++ standard
 * library ABI) is refused with a message instead of crashing on a mismatched vtable.
 * The struct only grows by appending fields; struct_size says how much of it a plugin filled in.
 */
#ifndef FTHOST_SDK_ABI_H
#define FTHOST_SDK_ABI_H

#include <stdint.h>

/* Major: bumped when an SDK interface changes incompatibly (a plugin must be rebuilt).
 * Minor: bumped when the SDK grows compatibly.
 * In this version the host also requires the SDK header hash to match exactly (any header change
 * means rebuilding plugins), so in practice a plugin loads only into the fthost whose SDK it was
 * built against; the minor rule takes effect once the hash covers an ABI manifest rather than the
 * header text. */
#define FTHOST_SDK_ABI_MAJOR 3
#define FTHOST_SDK_ABI_MINOR 0

/* The alias every plugin exports, in the "fthost" section of the library. */
#define FTHOST_PLUGIN_ENTRY_NAME "fthost_plugin_entry"
#define FTHOST_PLUGIN_SECTION_NAME "fthost"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fthost_plugin_descriptor {
  uint32_t struct_size; /* sizeof(fthost_plugin_descriptor) as the plugin was compiled */
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* sdk_hash;     /* hash of the SDK headers the plugin was compiled against */
  const char* cxx_runtime;  /* e.g. "libstdc++ cxx11-abi=1"; must equal the host's */
  const char* compiler;     /* informational: compiler and version */
  const char* name;         /* unique plugin name, as written in pipeline YAML */
  const char* version;      /* the plugin's own version */
  const char* kind;         /* "precision" | "quantization" | "adapter" | "sharding" | "parallelism" */
  const char* summary;      /* one line for `fthost plugins list` */
  /* Returns the plugin's fthost::sdk::Plugin singleton. Called only after every check above passed. */
  void* (*instance)(void);
} fthost_plugin_descriptor;

typedef const fthost_plugin_descriptor* (*fthost_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* FTHOST_SDK_ABI_H */
