#pragma once
// The fthost plugin SDK: the only header a plugin needs.
#include "fthost/sdk/abi.h"
#include "fthost/sdk/context.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/ops.hpp"
#include "fthost/sdk/options.hpp"
#include "fthost/sdk/plugin.hpp"
#include "fthost/sdk/strategy.hpp"
#include "fthost/sdk/types.hpp"
